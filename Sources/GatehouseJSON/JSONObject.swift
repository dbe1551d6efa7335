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
    ///
    /// Reads both in place (`utf8.withContiguousStorageIfAvailable` borrows; `withUTF8` would need a
    /// mutable copy of each, a retain and release per comparison). Only a non-contiguous string, which
    /// never comes out of the reader, takes the element-by-element path.
    static func exactlyEqual(_ a: String, _ b: String) -> Bool {
        let x = a.utf8
        let y = b.utf8
        guard x.count == y.count else { return false }
        let contiguous = x.withContiguousStorageIfAvailable { p in
            y.withContiguousStorageIfAvailable { q in p.elementsEqual(q) }
        }
        if let contiguous, let equal = contiguous { return equal }
        return x.elementsEqual(y)
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
