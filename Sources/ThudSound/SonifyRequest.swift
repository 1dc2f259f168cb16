import Foundation

/// What the user asked for with `--sonify[=VALUE]`, parsed without depending on the CLI's
/// argument parser (the CLI can wrap `init(argument:)` in `ExpressibleByArgument`).
///
/// VALUE is a comma-separated list of `hits` (the default), `envelope` and `optional`:
/// `--sonify`, `--sonify envelope`, `--sonify=optional`, `--sonify envelope,optional`.
/// `optional` means a device that cannot be opened turns sound off with a warning instead of
/// stopping the prediction.
public struct SonifyRequest: Equatable {
    public var mode: SonifyMode
    public var optional: Bool

    public init(mode: SonifyMode = .hits, optional: Bool = false) {
        self.mode = mode
        self.optional = optional
    }

    /// Nil for an unknown token (the CLI reports it as a usage error, exit 64).
    public init?(argument: String) {
        var mode = SonifyMode.hits
        var optional = false
        var modes = 0
        for raw in argument.split(separator: ",", omittingEmptySubsequences: true) {
            switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
            case "hits": mode = .hits; modes += 1
            case "envelope": mode = .envelope; modes += 1
            case "optional": optional = true
            default: return nil
            }
        }
        if modes > 1 { return nil }  // "hits,envelope": one sound at a time
        self.init(mode: mode, optional: optional)
    }

    public static let help = "hits (default), envelope, optional, or a mode plus optional: envelope,optional"
}

extension SonifyRequest {
    /// `--sonify` followed by no mode (end of arguments, another option or the input) means `--sonify=hits`.
    public static func expandBareFlag(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--sonify", i + 1 >= arguments.count || SonifyRequest(argument: arguments[i + 1]) == nil {
                out.append("--sonify=hits")
            } else {
                out.append(a)
            }
            i += 1
        }
        return out
    }
}
