#if canImport(Glibc)
    import Glibc
#endif

/// Runs a fuzz target's property check: under libFuzzer when the package is built for fuzzing
/// (`-sanitize=fuzzer,address -DGATEHOUSE_FUZZ`, see `fuzz/run.sh`), otherwise as a replayer that feeds
/// every file named on the command line (or found in a named folder) through the same check once.
///
/// The replayer keeps a plain `swift build` free of the libFuzzer symbols, and lets a crash input be
/// re-run under the debugger or a plain build. A property that does not hold stops the process with
/// `FuzzDriver.fail`, which libFuzzer reports as a crash and saves as an artifact.
public enum FuzzDriver {
    /// The target's check, called once per input.
    public typealias Check = (UnsafeRawBufferPointer) -> Void

    /// Set once by `run` before any input is fed; read by the C entry points below.
    /// `nonisolated(unsafe)`: written before libFuzzer starts and only read afterwards, on the thread
    /// libFuzzer calls back on.
    nonisolated(unsafe) static var check: Check = { _ in }

    /// Hands control to libFuzzer (or to the replayer) and exits with its status.
    public static func run(_ check: @escaping Check) -> Never {
        Self.check = check
        #if GATEHOUSE_FUZZ
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
        #else
            exit(replay(Array(CommandLine.arguments.dropFirst())))
        #endif
    }

    /// Stops the process: a property of the target does not hold for the current input.
    public static func fail(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
        fatalError("property violated: \(message)", file: file, line: line)
    }

    /// Fails unless `condition` holds.
    public static func require(
        _ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
    ) {
        if !condition { fail(message(), file: file, line: line) }
    }

    /// Feeds every named file, and every file directly inside a named folder, to the check once.
    static func replay(_ paths: [String]) -> Int32 {
        if paths.isEmpty || paths.contains(where: { $0.hasPrefix("-") }) {
            print("usage: \(CommandLine.arguments[0]) FILE-OR-FOLDER...")
            print("(built without -DGATEHOUSE_FUZZ: replays inputs; fuzz/run.sh builds the libFuzzer version)")
            return 2
        }
        var count = 0
        for path in paths {
            let files = listFolder(path) ?? [path]
            for file in files {
                guard let bytes = readFile(file) else {
                    print("cannot read \(file)")
                    return 1
                }
                bytes.withUnsafeBytes { check($0) }
                count += 1
            }
        }
        print("replayed \(count) input(s), every property held")
        return 0
    }

    /// The regular files directly inside `path`, sorted; nil when `path` is not a folder.
    private static func listFolder(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            names.append(path + "/" + name)
        }
        return names.sorted()
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
        }
        return bytes
    }
}

/// libFuzzer's callback: one input, as a pointer and a length (nil and 0 for the empty input).
private func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzDriver.check(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if GATEHOUSE_FUZZ
    /// libFuzzer's entry for programs that keep their own `main` (LLVM's `FuzzerInterface.h`).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    /// `-sanitize=fuzzer` links libFuzzer whole, and its unused `main` names this symbol; the real
    /// entry is the target's `main`, which calls `LLVMFuzzerRunDriver`.
    @_cdecl("LLVMFuzzerTestOneInput")
    func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        fuzzOneInput(data, size)
    }
#endif

/// A deterministic generator (SplitMix64) seeded from the input, so that a crash input replays the
/// same cut points.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A seed that depends on every byte of `bytes` (FNV-1a).
    public init(hashing bytes: UnsafeRawBufferPointer) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        state = h
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Cut `count` bytes into pieces of 1 to `maxPiece` bytes.
    public mutating func pieces(of count: Int, maxPiece: Int = 64) -> [Int] {
        var sizes: [Int] = []
        var left = count
        while left > 0 {
            let n = min(left, 1 + Int(next() % UInt64(maxPiece)))
            sizes.append(n)
            left -= n
        }
        return sizes
    }
}
