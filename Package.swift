// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "develtrace",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "develtrace", targets: ["develtrace"]),
        .library(name: "DeveltraceKit", targets: ["DeveltraceKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // libseccomp, found with pkg-config (Debian: libseccomp-dev).
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        // libelf, found with pkg-config (Debian: libelf-dev); reads `.ko` files.
        .systemLibrary(
            name: "CElf",
            pkgConfig: "libelf",
            providers: [.apt(["libelf-dev"])]
        ),
        // The few things Swift cannot do: variadic ptrace/syscall and the
        // async-signal-safe code that runs between fork and exec.
        .target(name: "CDeveltrace"),
        // The pipeline as a library, free of ArgumentParser:
        // trace -> sandbox -> build samples -> diff -> report.
        .target(
            name: "DeveltraceKit",
            dependencies: [
                "CDeveltrace", "CSeccomp", "CElf",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            // Optimised in debug builds too: the tests trace and classify
            // hundreds of real builds through this code, and unoptimised it
            // makes the suite about 1.6 times slower (tools/test's timing
            // table). The executable and the tests stay debug builds.
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // The thin command-line front end.
        .executableTarget(
            name: "develtrace",
            dependencies: [
                "DeveltraceKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "DeveltraceKitTests",
            dependencies: [
                "DeveltraceKit",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
    ]
)
