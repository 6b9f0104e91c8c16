import Testing

/// Tests of pure decisions: no root, no kernel tree, no sandbox, no build.
/// `swift test --skip-build --filter Unit` runs them alone, as any user.
@Suite enum Unit {}
