import Foundation

/// A folder of recorded segments (`thud record`'s clips, `--learn`'s rolling segments of a feed): each segment is
/// written under a hidden temporary name (`.NAME.partial`, which no reader takes for a video), then fsync'd and renamed,
/// so the folder only ever holds finished segments; names sort in recording order (prefix, the session's start time,
/// a number). With a byte budget the oldest finished segments are deleted first, before a new one starts.
public final class SegmentFolder {
    public let path: String
    /// nil: keep everything (`thud record`).
    public let budgetBytes: Int64?
    public let prefix: String
    public let pathExtension: String
    private let session: String
    private var number = 0

    /// Creates the folder if needed (FileWriteError, 74, when it cannot be) and removes the temporary segments a run
    /// that was killed left behind.
    public init(path: String, budgetBytes: Int64? = nil, prefix: String = "rec", pathExtension: String = "mkv") throws {
        self.path = path; self.budgetBytes = budgetBytes; self.prefix = prefix; self.pathExtension = pathExtension
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError(path: path, "cannot be created (\(error.localizedDescription))")
        }
        try AtomicFile.checkWritable((path as NSString).appendingPathComponent("probe.\(pathExtension)"))
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        session = formatter.string(from: Date())
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        where name.hasPrefix(".\(prefix)-") && name.hasSuffix(".partial") && !name.contains("-\(session)-") {
            unlink((path as NSString).appendingPathComponent(name))
        }
    }

    /// The next segment's final path and the temporary path it is written at.
    public func next() -> (path: String, temporary: String) {
        number += 1
        let name = String(format: "%@-%@-%03d.%@", prefix, session, number, pathExtension)
        return ((path as NSString).appendingPathComponent(name), (path as NSString).appendingPathComponent(".\(name).partial"))
    }

    /// Puts a finished segment in place: fsync (what reports a full disk on many filesystems), rename, fsync of the
    /// folder. The temporary file is removed when that fails (FileWriteError naming the segment).
    public func commit(_ temporary: String, to final: String) throws {
        let fd = open(temporary, O_RDONLY)
        guard fd >= 0 else { throw FileWriteError(path: final, "cannot be written (\(AtomicFile.lastError()))") }
        let synced = fsync(fd) == 0 || errno == EINVAL
        let syncError = AtomicFile.lastError()
        close(fd)
        guard synced else { unlink(temporary); throw FileWriteError(path: final, "cannot be written (\(syncError))") }
        guard rename(temporary, final) == 0 else {
            let e = AtomicFile.lastError(); unlink(temporary)
            throw FileWriteError(path: final, "cannot be put in place (\(e))")
        }
        let dirfd = open(path, O_RDONLY)
        if dirfd >= 0 { fsync(dirfd); close(dirfd) }
    }

    /// The finished segments of this folder (any session's), oldest first, with their sizes.
    public func segments() -> [(path: String, bytes: Int64)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasPrefix("\(prefix)-") && $0.hasSuffix(".\(pathExtension)") }
            .sorted()
        return names.map { name in
            let full = (path as NSString).appendingPathComponent(name)
            var st = stat()
            return (full, stat(full, &st) == 0 ? Int64(st.st_size) : 0)
        }
    }

    /// Deletes the oldest finished segments until they and `reserve` more bytes (the segment about to be written) fit
    /// the budget; the newest finished segment is always kept. Returns the paths deleted.
    @discardableResult
    public func prune(reserve: Int64 = 0) -> [String] {
        guard let budget = budgetBytes else { return [] }
        var all = segments()
        var total = all.reduce(Int64(0)) { $0 + $1.bytes }
        var deleted: [String] = []
        while all.count > 1, total + reserve > budget {
            let oldest = all.removeFirst()
            if unlink(oldest.path) == 0 || errno == ENOENT {
                total -= oldest.bytes
                deleted.append(oldest.path)
            } else {
                break
            }
        }
        return deleted
    }
}
