/// The tables of a document while it is being read: an arena of nodes addressed by index, each
/// remembering how it came to exist, because TOML's rules on redefining and extending tables depend
/// on exactly that. Turned into plain `TOMLTable` values once the whole file has been read.
struct TOMLDocument {
    /// How a table came to exist.
    enum TableKind {
        /// Created as a parent of a `[header]` path (`a` in `[a.b]`); a later `[a]` may still define it.
        case implicit
        /// Defined by a `[header]` or a `[[header]]`.
        case header
        /// Created by a dotted key (`a.b = 1` creates `a`); headers may add sub-tables, never redefine.
        case dotted
        /// An inline table `{ … }`: complete as written, nothing may be added later.
        case inline
    }

    /// What a key holds while the document is being read.
    indirect enum Item {
        /// A scalar value.
        case value(TOMLValue)
        /// A table, by node index.
        case table(Int)
        /// An array of tables made by `[[header]]`s, by index in `tableArrays` (so that appending
        /// an element does not copy the array).
        case tableArray(Int)
        /// A static array written as a value `[ … ]`; it may hold inline tables.
        case array([Item])
    }

    /// A key's item and the line where the key was defined.
    struct Slot {
        var item: Item
        var line: Int
    }

    /// One table.
    struct Node {
        var kind: TableKind
        var line: Int
        var depth: Int
        var keys: [String] = []
        var slots: [String: Slot] = [:]
    }

    /// Index of the root table.
    static let root = 0

    var nodes: [Node] = [Node(kind: .header, line: 0, depth: 0)]
    /// The elements (node indices) of every array of tables; none is empty.
    var tableArrays: [[Int]] = []

    /// Adds an empty table and returns its index; the caller links it into its parent.
    mutating func makeNode(kind: TableKind, line: Int, depth: Int) -> Int {
        nodes.append(Node(kind: kind, line: line, depth: depth))
        return nodes.count - 1
    }

    /// Links `item` under `key` in table `index`; the caller has checked that the key is free.
    mutating func add(_ item: Item, forKey key: String, line: Int, in index: Int) {
        nodes[index].keys.append(key)
        nodes[index].slots[key] = Slot(item: item, line: line)
    }

    /// The finished table at `index`. Recursion is bounded by the parser's nesting limit.
    func makeTable(_ index: Int) -> TOMLTable {
        let node = nodes[index]
        var table = TOMLTable(line: node.line)
        for key in node.keys {
            if let slot = node.slots[key] {
                table.setValue(makeValue(slot.item), forKey: key, line: slot.line)
            }
        }
        return table
    }

    private func makeValue(_ item: Item) -> TOMLValue {
        switch item {
        case .value(let value): value
        case .table(let index): .table(makeTable(index))
        case .tableArray(let array): .array(tableArrays[array].map { .table(makeTable($0)) })
        case .array(let items): .array(items.map { makeValue($0) })
        }
    }
}
