/// Header fields in arrival order, names kept as sent and compared case-insensitively (ASCII).
/// Several fields with the same name stay separate fields: nothing is merged or reordered.
public struct HTTPHeaders: Sendable, Sequence, Equatable, ExpressibleByDictionaryLiteral,
    CustomStringConvertible
{
    public typealias Element = (name: String, value: String)

    @usableFromInline var fields: [Element]

    public init() {
        fields = []
    }

    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    @inlinable public var count: Int { fields.count }

    @inlinable public var isEmpty: Bool { fields.isEmpty }

    @inlinable public subscript(index: Int) -> (name: String, value: String) { fields[index] }

    public func makeIterator() -> IndexingIterator<[Element]> {
        fields.makeIterator()
    }

    public mutating func reserveCapacity(_ n: Int) {
        fields.reserveCapacity(n)
    }

    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Removes every field called `name`, then adds one.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        fields.append((name: name, value: value))
    }

    /// Removes every field called `name`.
    public mutating func remove(name: String) {
        fields.removeAll { Self.namesEqual($0.name, name) }
    }

    // The lookups below walk indices and read `fields[i].name` in place rather than binding each field
    // to a loop variable: only the value that is returned gets copied (retained).

    /// The value of the first field called `name`.
    public func first(name: String) -> String? {
        for i in fields.indices where Self.namesEqual(fields[i].name, name) { return fields[i].value }
        return nil
    }

    /// The value of every field called `name`, in order.
    public func values(name: String) -> [String] {
        var result: [String] = []
        for i in fields.indices where Self.namesEqual(fields[i].name, name) { result.append(fields[i].value) }
        return result
    }

    public func contains(name: String) -> Bool {
        for i in fields.indices where Self.namesEqual(fields[i].name, name) { return true }
        return false
    }

    /// True when a field called `name` holds `token` as one of its comma-separated elements, compared
    /// case-insensitively (`Connection: keep-alive, Upgrade` contains `upgrade`).
    public func containsToken(_ token: String, inField name: String) -> Bool {
        for i in fields.indices where Self.namesEqual(fields[i].name, name) {
            if Self.listValue(fields[i].value, containsToken: token) { return true }
        }
        return false
    }

    /// True when one of the comma-separated elements of `value` (trimmed, empty ones skipped) equals
    /// `token` ignoring ASCII case. Walks the value in place: no array of elements is built.
    public static func listValue<T: StringProtocol>(_ value: String, containsToken token: T) -> Bool {
        var found = false
        forEachListElement(value) { element in
            if !found && namesEqual(element, token) { found = true }
        }
        return found
    }

    /// Every comma-separated element of every field called `name`, trimmed, empty elements skipped
    /// (`Connection: close, X-Foo` → ["close", "X-Foo"]).
    public func listElements(name: String) -> [Substring] {
        var result: [Substring] = []
        for field in fields where Self.namesEqual(field.name, name) {
            Self.forEachListElement(field.value) { result.append($0) }
        }
        return result
    }

    public var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    /// Names and values equal and in the same order; names compared case-insensitively.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        guard lhs.fields.count == rhs.fields.count else { return false }
        for (a, b) in zip(lhs.fields, rhs.fields) where !namesEqual(a.name, b.name) || a.value != b.value {
            return false
        }
        return true
    }

    /// True when `a` and `b` are equal ignoring ASCII case (bytes 0x80 and up compare exactly, so "é" and
    /// "É" differ). The hot path of every lookup: lengths first, then one pass over the contiguous UTF-8
    /// of both (native strings always have it); the element-wise walk is only for strings without
    /// contiguous storage (bridged ones), never allocating either way.
    @inlinable public static func namesEqual<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
        let x = a.utf8
        let y = b.utf8
        guard x.count == y.count else { return false }
        let contiguous: Bool? =
            x.withContiguousStorageIfAvailable { p in
                y.withContiguousStorageIfAvailable { q in bytesEqualIgnoringCase(p, q) }
            } ?? nil
        if let contiguous { return contiguous }
        return x.elementsEqual(y) { ASCII.lowercased($0) == ASCII.lowercased($1) }
    }

    /// True when `bytes` (a field name's UTF-8) equal `lowercase` ignoring ASCII case. `lowercase` must be
    /// lower-case ASCII, so only the name's bytes are folded. For classifying a name against fixed lists
    /// once its bytes are in hand (see `ProxyHeaders.FieldKind`).
    @inlinable public static func bytes(
        _ bytes: UnsafeBufferPointer<UInt8>, equalLowercase lowercase: StaticString
    ) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return startsWith(bytes, lowercase)
    }

    /// True when `bytes` begin with `lowercase` (lower-case ASCII) ignoring ASCII case.
    @inlinable public static func bytes(
        _ bytes: UnsafeBufferPointer<UInt8>, haveLowercasePrefix lowercase: StaticString
    ) -> Bool {
        guard bytes.count >= lowercase.utf8CodeUnitCount else { return false }
        return startsWith(bytes, lowercase)
    }

    /// `bytes` (at least as long as `lowercase`) begin with `lowercase`, folding only `bytes`.
    @inlinable static func startsWith(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
        lowercase.withUTF8Buffer { expected in
            var i = 0
            while i < expected.count {
                if ASCII.lowercased(bytes[i]) != expected[i] { return false }
                i += 1
            }
            return true
        }
    }

    /// ASCII case-insensitive equality of two byte runs: a byte that is already equal costs one compare,
    /// only differing bytes are folded.
    @inlinable static func bytesEqualIgnoringCase(
        _ p: UnsafeBufferPointer<UInt8>, _ q: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        guard p.count == q.count else { return false }
        var i = 0
        while i < p.count {
            let a = p[i]
            let b = q[i]
            if a != b && ASCII.lowercased(a) != ASCII.lowercased(b) { return false }
            i += 1
        }
        return true
    }

    /// Calls `body` with each comma-separated element of `value`, trimmed of spaces and tabs, empty elements
    /// skipped. Splits at the same places `split(separator: ",")` does (commas that are a character of
    /// their own) but without building an array.
    public static func forEachListElement(_ value: String, _ body: (Substring) -> Void) {
        // Over the UTF-8 bytes: comma, space and tab are ASCII, so every cut falls on a character boundary.
        let utf8 = value.utf8
        var start = utf8.startIndex
        while start < utf8.endIndex {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: ",")) ?? utf8.endIndex
            var lower = start
            var upper = end
            while lower < upper, utf8[lower] == UInt8(ascii: " ") || utf8[lower] == UInt8(ascii: "\t") {
                lower = utf8.index(after: lower)
            }
            while lower < upper {
                let before = utf8.index(before: upper)
                guard utf8[before] == UInt8(ascii: " ") || utf8[before] == UInt8(ascii: "\t") else { break }
                upper = before
            }
            if lower < upper { body(Substring(utf8[lower..<upper])) }
            if end == utf8.endIndex { break }
            start = utf8.index(after: end)
        }
    }
}
