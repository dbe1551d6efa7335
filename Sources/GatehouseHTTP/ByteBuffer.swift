/// A growable byte buffer with a reader and a writer index: bytes are written at the end (from `recv`,
/// or by a serializer) and read from the front (by a parser, or by `send`). One buffer per connection
/// direction, reused for the connection's life: it compacts itself instead of reallocating when the
/// read part at the front is enough to make room.
///
/// Slices handed out (`readableBytesView`, parser body parts) share the storage. Drop them before the
/// next write, or that write copies the storage (copy-on-write keeps the slice intact either way).
public struct ByteBuffer: Sendable {
    /// `storage.count` is the capacity; bytes `readerIndex..<writerIndex` are the unread ones.
    @usableFromInline var storage: [UInt8]
    @usableFromInline var readerIndex: Int
    @usableFromInline var writerIndex: Int

    public init(capacity: Int = 0) {
        storage = [UInt8](repeating: 0, count: max(0, capacity))
        readerIndex = 0
        writerIndex = 0
    }

    /// A buffer holding `bytes`, ready to be read.
    public init<C: Collection>(bytes: C) where C.Element == UInt8 {
        self.init(capacity: bytes.count)
        writeBytes(bytes)
    }

    /// A buffer holding the UTF-8 bytes of `string`, ready to be read.
    public init(string: String) {
        self.init(capacity: string.utf8.count)
        writeString(string)
    }

    @inlinable public var readableBytes: Int { writerIndex - readerIndex }

    @inlinable public var isEmpty: Bool { writerIndex == readerIndex }

    /// Bytes that can be written before the buffer must compact or grow.
    @inlinable public var writableBytes: Int { storage.count - writerIndex }

    @inlinable public var capacity: Int { storage.count }

    /// The unread bytes, without a copy. Its indices are positions in the storage, not offsets from 0:
    /// use `startIndex`.
    @inlinable public var readableBytesView: ArraySlice<UInt8> { storage[readerIndex..<writerIndex] }

    public mutating func writeBytes<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let count = bytes.count
        guard count > 0 else { return }
        reserveWritableBytes(count)
        let start = writerIndex
        let copied: Bool? = bytes.withContiguousStorageIfAvailable { source in
            storage.withUnsafeMutableBytes { target in
                UnsafeMutableRawBufferPointer(rebasing: target[start..<(start + count)])
                    .copyMemory(from: UnsafeRawBufferPointer(source))
            }
            return true
        }
        if copied == nil {
            var index = start
            for byte in bytes {
                storage[index] = byte
                index += 1
            }
        }
        writerIndex += count
    }

    /// Writes the UTF-8 bytes of `s`.
    public mutating func writeString(_ s: String) {
        var s = s
        s.withUTF8 { writeBytes($0) }
    }

    /// Writes one byte.
    @inlinable public mutating func writeInteger(_ byte: UInt8) {
        if writerIndex == storage.count { reserveWritableBytes(1) }
        storage[writerIndex] = byte
        writerIndex += 1
    }

    /// Ensures `minimumWritableBytes` writable bytes, then lets `body` fill the writable region (for
    /// `recv`). `body` returns how many bytes it wrote; a result of zero or less writes nothing and is
    /// returned as is (EOF, would-block, error codes).
    public mutating func writeWithUnsafeMutableBytes(
        minimumWritableBytes: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Int
    ) rethrows -> Int {
        reserveWritableBytes(max(0, minimumWritableBytes))
        let start = writerIndex
        let written = try storage.withUnsafeMutableBytes { raw in
            try body(UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
        }
        if written > 0 {
            precondition(written <= storage.count - start, "wrote past the writable region")
            writerIndex += written
        }
        return written
    }

    /// Calls `body` with the unread bytes (for `send`).
    public func withUnsafeReadableBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[readerIndex..<writerIndex]))
        }
    }

    /// The unread bytes as typed bytes, for the parsers' scanning loops.
    @inlinable func withReadableBuffer<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        storage.withUnsafeBufferPointer { all in
            body(UnsafeBufferPointer(rebasing: all[readerIndex..<writerIndex]))
        }
    }

    /// Marks `n` bytes as read. Once everything is read the indices go back to 0 (no copy).
    public mutating func moveReaderIndex(forwardBy n: Int) {
        precondition(n >= 0 && n <= readableBytes, "moved the reader index past the written bytes")
        readerIndex += n
        if readerIndex == writerIndex {
            readerIndex = 0
            writerIndex = 0
        }
    }

    /// Reads `n` bytes as a slice of the storage (no copy) and moves the reader index past them.
    @inlinable public mutating func readSlice(length n: Int) -> ArraySlice<UInt8> {
        let slice = storage[readerIndex..<(readerIndex + n)]
        moveReaderIndex(forwardBy: n)
        return slice
    }

    /// Forgets every byte; the capacity stays.
    public mutating func clear() {
        readerIndex = 0
        writerIndex = 0
    }

    /// Moves the unread bytes to the front of the storage so the read part becomes writable again.
    public mutating func discardReadBytes() {
        guard readerIndex > 0 else { return }
        let count = readableBytes
        if count > 0 {
            let from = readerIndex
            storage.withUnsafeMutableBytes { raw in
                // `!`: count > 0, so the storage is not empty. copyMemory is a memmove: regions may overlap.
                let base = raw.baseAddress!
                base.copyMemory(from: base + from, byteCount: count)
            }
        }
        readerIndex = 0
        writerIndex = count
    }

    /// Makes room for `needed` more bytes: compacts when the read part at the front is enough, else grows
    /// (at least doubling, so a stream of small writes costs amortized O(1) per byte).
    @usableFromInline mutating func reserveWritableBytes(_ needed: Int) {
        if storage.count - writerIndex >= needed { return }
        let count = readableBytes
        if storage.count - count >= needed && readerIndex >= count {
            // Compaction is cheap here: at most as many bytes move as were already consumed.
            discardReadBytes()
            return
        }
        var newCapacity = max(64, storage.count)
        while newCapacity - count < needed { newCapacity *= 2 }
        if newCapacity == storage.count {
            discardReadBytes()
            return
        }
        var grown = [UInt8](repeating: 0, count: newCapacity)
        if count > 0 {
            let from = readerIndex
            grown.withUnsafeMutableBytes { target in
                storage.withUnsafeBytes { source in
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[from..<(from + count)]))
                }
            }
        }
        storage = grown
        readerIndex = 0
        writerIndex = count
    }
}
