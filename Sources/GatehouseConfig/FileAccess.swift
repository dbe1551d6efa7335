#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Whole-file reads and existence checks with plain POSIX calls (no Foundation).
enum FileAccess {
    /// Configuration-sized files only: a path naming something endless (`/dev/zero`) must not hang the loader.
    static let maximumSize = 16 << 20

    /// The bytes of the file at `path`, or the reason it cannot be read (`strerror` text).
    static func contents(of path: String) -> Result<[UInt8], ValueError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ValueError(reason(errno))) }
        defer { close(fd) }
        var bytes = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(ValueError(reason(errno)))
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
            guard bytes.count <= maximumSize else { return .failure(ValueError("file larger than 16 MiB")) }
        }
        return .success(bytes)
    }

    /// nil when the file at `path` can be opened for reading, else the reason.
    static func unreadableReason(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return reason(errno) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { return reason(EISDIR) }
        return nil
    }

    /// Whether something exists at `path`.
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    private static func reason(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}

/// Whole-file reads for the layers above (JWK Sets, pinned tool digests), with the same size bound.
public enum ConfigFiles {
    /// The bytes of the file at `path`, or the reason it cannot be read.
    public static func read(_ path: String) -> Result<[UInt8], ConfigFileError> {
        switch FileAccess.contents(of: path) {
        case .success(let bytes): return .success(bytes)
        case .failure(let error): return .failure(ConfigFileError(message: "\(path): \(error)"))
        }
    }
}

/// Why a referenced file could not be read.
public struct ConfigFileError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
