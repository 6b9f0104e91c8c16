/// develtrace's version, printed by `--version` and written into reports.
public enum DeveltraceVersion {
    public static let current = "0.1.0"
}
