import Foundation

/// Where the bundled model is when no --model is given, the same for every executable (thud, thud-train adapt and
/// fp16) and from any working directory: $THUD_MODEL, else models/default.thud beside the executable's checkout
/// (the executable lives in <checkout>/.build/<triple>/<config>/), else in the working directory, else
/// /usr/local/share/thud.
public enum ModelLocator {
    public static let bundledName = "models/default.thud"

    /// `explicit` when given, else the bundled model; ModelFileError (not found, exit 20) when there is none.
    public static func resolve(_ explicit: String?) throws -> String {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment["THUD_MODEL"], !env.isEmpty { return env }
        var candidates: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            for _ in 0..<5 {
                candidates.append(dir.appendingPathComponent(bundledName))
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(bundledName))
        candidates.append(URL(fileURLWithPath: "/usr/local/share/thud").appendingPathComponent(bundledName))
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found.path }
        throw ModelFileError(path: bundledName, problem: .notFound)
    }
}
