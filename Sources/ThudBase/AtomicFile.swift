import Foundation

/// Why an output file could not be written: one line naming the file (exit code 74, "an output file cannot be
/// written").
public struct FileWriteError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    public init(path: String, _ problem: String) { self.path = path; self.problem = problem }
    public var message: String { "\(path): \(problem)" }
    public var description: String { message }
    public var exitCode: Int32 { 74 }
}

/// Every file Thud writes goes through here: a temporary sibling in the same folder, written in full, fsync'd,
/// renamed over the target, and the folder fsync'd. A failed or interrupted run leaves the old file or the new one,
/// never a half-written mix, and never a file that was both an input and the output.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically.
    public static func write<Bytes: ContiguousBytes>(_ bytes: Bytes, to path: String) throws {
        try replace(path) { temporary in
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw FileWriteError(path: path, "cannot be created (\(lastError()))") }
            defer { close(fd) }
            try bytes.withUnsafeBytes { raw in
                var written = 0
                while written < raw.count {
                    let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw FileWriteError(path: path, "cannot be written (\(lastError()))")
                    }
                    written += n
                }
            }
        }
    }

    /// Lets `produce` write the whole file at a temporary path in the same folder (a library that opens the file
    /// itself, like FFmpeg's muxer), then fsyncs it and renames it over `path`. The temporary file is removed when
    /// anything fails.
    public static func replace(_ path: String, _ produce: (_ temporary: String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        // The same extension as the target: a muxer picks its container from the name.
        let ext = url.pathExtension
        let stem = ".\(url.deletingPathExtension().lastPathComponent).tmp-"
        let suffix = ext.isEmpty ? "" : ".\(ext)"
        removeStaleTemporaries(in: folder, stem: stem, suffix: suffix)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(stem + "\(getpid())-\(counter.next())" + suffix).path
        do {
            try produce(temporary)
            let fd = open(temporary, O_RDONLY)
            guard fd >= 0 else { throw FileWriteError(path: path, "cannot be written (\(lastError()))") }
            // fsync is what reports a full disk or an I/O error on many filesystems: a failure here is a failed write.
            let synced = fsync(fd) == 0 || errno == EINVAL
            let syncError = lastError()
            close(fd)
            guard synced else { throw FileWriteError(path: path, "cannot be written (\(syncError))") }
            guard rename(temporary, path) == 0 else { throw FileWriteError(path: path, "cannot be put in place (\(lastError()))") }
        } catch {
            unlink(temporary)
            throw error
        }
        let dirfd = open(folder.isEmpty ? "." : folder, O_RDONLY)
        if dirfd >= 0 { fsync(dirfd); close(dirfd) }
    }

    /// The temporary files a process that no longer runs left for this target (`.NAME.tmp-PID-N.EXT`, killed with
    /// SIGKILL or by a power cut before it could remove them): removed before a new one is made. A live process's
    /// temporary file (another render of the same output running now) is left alone.
    static func removeStaleTemporaries(in folder: String, stem: String, suffix: String) {
        let dir = folder.isEmpty ? "." : folder
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(stem) && name.hasSuffix(suffix) {
            let middle = name.dropFirst(stem.count).dropLast(suffix.count)
            let parts = middle.split(separator: "-")
            guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0, Int(parts[1]) != nil else { continue }
            if pid == getpid() { continue }
            if kill(pid, 0) == -1 && errno == ESRCH { unlink(dir + "/" + name) }
        }
    }

    /// Fails, before anything is computed, when `path` cannot be written: its folder is missing or not writable,
    /// or it is a directory. (A run that would only find out at its end wastes the run.)
    public static func checkWritable(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw FileWriteError(path: path, "is a directory")
        }
        let folder = (path as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FileWriteError(path: path, "cannot be written (its folder does not exist)")
        }
        guard access(folder.isEmpty ? "." : folder, W_OK) == 0 else {
            throw FileWriteError(path: path, "cannot be written (its folder is not writable: \(lastError()))")
        }
    }

    /// True when `a` and `b` are the same file (same device and inode, through any links); false when either does
    /// not exist.
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// The last system error (errno) as text, for one-line messages.
    public static func lastError() -> String { String(cString: strerror(errno)) }

    /// Two writes of one process to one folder never share a temporary name.
    private static let counter = Counter()
    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
    }
}

extension FileWriteError: OneLineError {}
