/// Object members in source order; keys unique (the reader refuses duplicates).
///
/// Keys compare by their exact UTF-8 bytes, never by Unicode canonical equivalence: `"é"` (U+00E9) and
/// `"e\u0301"` are different keys, as they are for every upstream. Lookup is a linear scan, which beats
/// hashing for the handful of members JSON-RPC messages carry.
public struct JSONObject: Sendable {
    public private(set) var members: [(key: String, value: JSONValue)]

    /// Members in the given order; a repeated key keeps its first position and takes its last value.
    public init(_ members: [(String, JSONValue)] = []) {
        self.members = []
        self.members.reserveCapacity(members.count)
        for (key, value) in members { self[key] = value }
    }

    /// Members known to have unique keys (the reader checked them).
    init(uniqueMembers: [(key: String, value: JSONValue)]) {
        self.members = uniqueMembers
    }

    /// The value of member `key`; setting nil removes the member, setting a new key appends it.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let i = index(of: key) else { return nil }
            return members[i].value
        }
        set {
            if let i = index(of: key) {
                if let newValue {
                    members[i].value = newValue
                } else {
                    members.remove(at: i)
                }
            } else if let newValue {
                members.append((key: key, value: newValue))
            }
        }
    }

    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    /// The position of member `key` in `members`.
    public func index(of key: String) -> Int? {
        members.firstIndex { Self.exactlyEqual($0.key, key) }
    }

    /// Byte equality of two strings' UTF-8 forms.
    static func exactlyEqual(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        var a = a
        var b = b
        return a.withUTF8 { x in b.withUTF8 { y in x.elementsEqual(y) } }
    }
}

extension JSONObject: Equatable {
    /// Same keys with equal values, in any order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (i, member) in lhs.members.enumerated() {
            // Fast path: objects compared are usually in the same order.
            if exactlyEqual(rhs.members[i].key, member.key) {
                if rhs.members[i].value != member.value { return false }
                continue
            }
            guard let other = rhs[member.key], other == member.value else { return false }
        }
        return true
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }
}

extension JSONObject: Sequence {
    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
        members.makeIterator()
    }
}
