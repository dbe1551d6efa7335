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

    /// The value of the first field called `name`.
    public func first(name: String) -> String? {
        for field in fields where Self.namesEqual(field.name, name) { return field.value }
        return nil
    }

    /// The value of every field called `name`, in order.
    public func values(name: String) -> [String] {
        fields.compactMap { Self.namesEqual($0.name, name) ? $0.value : nil }
    }

    public func contains(name: String) -> Bool {
        fields.contains { Self.namesEqual($0.name, name) }
    }

    /// True when a field called `name` holds `token` as one of its comma-separated elements, compared
    /// case-insensitively (`Connection: keep-alive, Upgrade` contains `upgrade`).
    public func containsToken(_ token: String, inField name: String) -> Bool {
        for field in fields where Self.namesEqual(field.name, name) {
            var found = false
            Self.forEachListElement(field.value) { element in
                if !found && Self.namesEqual(element, token) { found = true }
            }
            if found { return true }
        }
        return false
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

    /// ASCII case-insensitive equality, without allocating.
    @inlinable static func namesEqual<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
        let x = a.utf8
        let y = b.utf8
        guard x.count == y.count else { return false }
        return x.elementsEqual(y) { ASCII.lowercased($0) == ASCII.lowercased($1) }
    }

    static func forEachListElement(_ value: String, _ body: (Substring) -> Void) {
        for part in value.split(separator: ",") {
            let element = trimmed(part)
            if !element.isEmpty { body(element) }
        }
    }

    static func trimmed(_ s: Substring) -> Substring {
        var s = s
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}
