/// Project names as indexes compare them.
public enum ProjectName {
    /// The PEP 503 normalised form: lower case, each run of `-`, `_` and `.` as one `-`.
    public static func normalise(_ name: String) -> String {
        var out = ""
        var lastWasSeparator = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                if !lastWasSeparator { out.append("-") }
                lastWasSeparator = true
            } else {
                out.append(c)
                lastWasSeparator = false
            }
        }
        return out
    }
}
