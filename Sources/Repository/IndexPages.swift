import Foundation

/// Renders the simple index: PEP 503 HTML and PEP 691 JSON, with PEP 592 yanking, PEP 658/714
/// metadata hashes (both attribute names, for pip before and after 23.2) and PEP 700's api
/// version 1.1 fields (`versions`, `size`, `upload-time`). File URLs are relative to the page.
public enum IndexPages {
    /// The api version served.
    public static let apiVersion = "1.1"
    /// PEP 691's JSON content type.
    public static let jsonType = "application/vnd.pypi.simple.v1+json"
    /// PEP 691's HTML content type.
    public static let htmlType = "application/vnd.pypi.simple.v1+html"

    /// The response format for an Accept header (PEP 691 content negotiation; HTML when absent).
    public static func negotiate(accept: String?) -> String? {
        guard let accept, !accept.isEmpty else { return htmlType }
        var best: (type: String, q: Double)? = nil
        for part in accept.split(separator: ",") {
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let media = fields.first?.lowercased() else { continue }
            var q = 1.0
            for field in fields.dropFirst() where field.hasPrefix("q=") { q = Double(field.dropFirst(2)) ?? 0 }
            let type: String?
            switch media {
            case jsonType, "application/vnd.pypi.simple.latest+json": type = jsonType
            case htmlType, "application/vnd.pypi.simple.latest+html": type = htmlType
            case "text/html": type = "text/html"
            case "*/*", "text/*", "application/*": type = htmlType
            default: type = nil
            }
            guard let type, q > 0 else { continue }
            if best == nil || q > (best?.q ?? 0) { best = (type, q) }
        }
        return best?.type
    }

    /// Text from a file or a user, made safe for HTML text and attribute values.
    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }

    /// The server's home page: the projects, each linking to its page for people. Every name is
    /// escaped (a name is only ever a stranger's upload away).
    public static func homePage(projects: [String]) -> String {
        var html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>wheelfarm</title></head><body><h1>wheelfarm</h1>"
        html += "<p>Simple index: <a href=\"/simple/\">/simple/</a>. Projects:</p><ul>"
        for project in projects { html += "<li><a href=\"/project/\(escape(percentEncode(project)))/\">\(escape(project))</a></li>" }
        return html + "</ul></body></html>\n"
    }

    /// A name made safe as one component of a URL path.
    public static func pathComponent(_ text: String) -> String { percentEncode(text) }

    static func percentEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "#?"))) ?? text
    }

    /// PEP 700's timestamp format.
    static func uploadTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
        return formatter.string(from: date)
    }

    /// The project list as HTML.
    public static func rootHTML(_ projects: [String]) -> String {
        var html =
            "<!DOCTYPE html>\n<html>\n<head><meta name=\"pypi:repository-version\" content=\"\(apiVersion)\"><title>Simple index</title></head>\n<body>\n"
        for project in projects { html += "<a href=\"\(percentEncode(project))/\">\(escape(project))</a><br>\n" }
        return html + "</body>\n</html>\n"
    }

    /// The project list as JSON.
    public static func rootJSON(_ projects: [String]) -> String {
        json(["meta": ["api-version": apiVersion], "projects": projects.map { ["name": $0] }])
    }

    /// A project's files as HTML (from `/simple/<project>/`).
    public static func projectHTML(_ manifest: ProjectManifest) -> String {
        var html =
            "<!DOCTYPE html>\n<html>\n<head><meta name=\"pypi:repository-version\" content=\"\(apiVersion)\"><title>Links for \(escape(manifest.name))</title></head>\n<body>\n<h1>Links for \(escape(manifest.name))</h1>\n"
        for file in manifest.files {
            var attributes = "href=\"../../files/\(percentEncode(manifest.name))/\(percentEncode(file.filename))#sha256=\(file.sha256)\""
            if let requires = file.requiresPython { attributes += " data-requires-python=\"\(escape(requires))\"" }
            attributes += " data-dist-info-metadata=\"sha256=\(file.metadataSha256)\" data-core-metadata=\"sha256=\(file.metadataSha256)\""
            if let yanked = file.yanked { attributes += " data-yanked=\"\(escape(yanked))\"" }
            html += "<a \(attributes)>\(escape(file.filename))</a><br>\n"
        }
        return html + "</body>\n</html>\n"
    }

    /// A project's files as JSON.
    public static func projectJSON(_ manifest: ProjectManifest) -> String {
        let files: [[String: Any]] = manifest.files.map { file in
            var entry: [String: Any] = [
                "filename": file.filename,
                "url": "../../files/\(percentEncode(manifest.name))/\(percentEncode(file.filename))",
                "hashes": ["sha256": file.sha256],
                // Only PEP 714's name in JSON: pip 22.3 to 23.1 (Debian 12's is 23.0) crash on the
                // old "dist-info-metadata" key there. The HTML keeps both: pip 23.0 reads that form.
                "core-metadata": ["sha256": file.metadataSha256],
                "size": file.size,
                "upload-time": uploadTime(file.uploadTime),
                "yanked": file.yanked.map { $0.isEmpty ? true as Any : $0 as Any } ?? false
            ]
            if let requires = file.requiresPython { entry["requires-python"] = requires }
            return entry
        }
        var versions: [String] = []
        for file in manifest.files where !versions.contains(file.version) { versions.append(file.version) }
        return json(["meta": ["api-version": apiVersion], "name": manifest.name, "files": files, "versions": versions])
    }

    /// A page for people: the wheels per target with their build facts, and how to install.
    public static func projectPage(_ manifest: ProjectManifest) -> String {
        var html = "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>\(escape(manifest.name))</title>"
        html +=
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}code{font-size:90%}</style></head>\n<body>\n"
        html += "<h1>\(escape(manifest.name))</h1>\n<p><code>pip install --index-url &lt;this server&gt;/simple/ \(escape(manifest.name))</code></p>\n"
        let byTarget = Dictionary(grouping: manifest.files) { $0.target ?? "uploaded" }
        for target in byTarget.keys.sorted() {
            html +=
                "<h2>\(escape(target))</h2>\n<table><tr><th>file</th><th>version</th><th>size</th><th>uploaded</th><th>sha256</th><th>signature</th><th>state</th></tr>\n"
            for file in byTarget[target] ?? [] {
                let base = "../../files/\(percentEncode(manifest.name))/\(percentEncode(file.filename))"
                let signature = file.signed ? "<a href=\"\(base).minisig\">minisig</a> <a href=\"\(base).intoto.json\">provenance</a>" : "-"
                let state = file.yanked.map { "yanked" + ($0.isEmpty ? "" : ": \(escape($0))") } ?? "available"
                html += "<tr><td><a href=\"\(base)\">\(escape(file.filename))</a></td><td>\(escape(file.version))</td><td>\(file.size)</td>"
                html +=
                    "<td>\(uploadTime(file.uploadTime).prefix(19))</td><td><code>\(file.sha256.prefix(16))…</code></td><td>\(signature)</td><td>\(state)</td></tr>\n"
            }
            html += "</table>\n"
        }
        return html + "</body>\n</html>\n"
    }

    static func json(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
