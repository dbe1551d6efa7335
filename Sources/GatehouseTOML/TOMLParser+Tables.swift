/// TOML's rules on where keys and tables may go: headers, arrays of tables, dotted keys, and what may
/// never be redefined or extended.
extension TOMLParser {
    /// `[a.b]` or `[[a.b]]`; makes the named table the current one.
    mutating func parseTableHeader() throws(TOMLError) {
        let open = position
        position += 1
        let isArray = current == UInt8(ascii: "[")
        if isArray {
            position += 1
        }
        skipWhitespace()
        let key = try parseKey()
        skipWhitespace()
        guard current == UInt8(ascii: "]") else {
            throw unexpected(expecting: isArray ? "']]' to close the header" : "']' to close the header")
        }
        position += 1
        if isArray {
            guard current == UInt8(ascii: "]") else {
                throw unexpected(expecting: "']]' to close the header")
            }
            position += 1
        }
        let line = lineNumber(at: open)
        currentPath = key
        let parent = try descendForHeader(key.dropLast(), line: line)
        // parseKey returns at least one part.
        let last = key[key.count - 1]
        let depth = document.nodes[parent].depth + 1
        if isArray {
            currentTable = try appendTableArrayElement(last, key: key, in: parent, depth: depth, line: line)
        } else {
            currentTable = try defineTable(last, key: key, in: parent, depth: depth, line: line)
        }
    }

    /// Walks the parents of a header path, creating missing ones as implicit tables; through an array
    /// of tables, the walk goes to its last element.
    private mutating func descendForHeader(_ parents: ArraySlice<KeyPart>, line: Int) throws(TOMLError) -> Int {
        var table = TOMLDocument.root
        for (index, part) in zip(parents.indices, parents) {
            // Only worked out on an error: doing it on every step would be quadratic.
            var path: String { Self.describe(parents[...index]) }
            guard let slot = document.nodes[table].slots[part.name] else {
                let depth = document.nodes[table].depth + 1
                try checkDepth(depth, at: part.offset)
                let child = document.makeNode(kind: .implicit, line: line, depth: depth)
                document.add(.table(child), forKey: part.name, line: line, in: table)
                table = child
                continue
            }
            switch slot.item {
            case .table(let child):
                if document.nodes[child].kind == .inline {
                    throw error("inline table '\(path)' cannot be extended", at: part.offset)
                }
                table = child
            case .tableArray(let array):
                guard let lastElement = document.tableArrays[array].last else {
                    throw error("internal error: empty array of tables '\(path)'", at: part.offset)
                }
                table = lastElement
            case .array:
                throw error("'\(path)' is an array value; it cannot be extended by a table header", at: part.offset)
            case .value(let value):
                throw error("key '\(path)' is already defined as \(Self.withArticle(value))", at: part.offset)
            }
        }
        return table
    }

    /// The last part of `[a.b]`: a new table, or an implicit one being defined now.
    private mutating func defineTable(
        _ part: KeyPart, key: [KeyPart], in parent: Int, depth: Int, line: Int
    ) throws(TOMLError) -> Int {
        var path: String { Self.describe(key) }
        guard let slot = document.nodes[parent].slots[part.name] else {
            try checkDepth(depth, at: part.offset)
            let table = document.makeNode(kind: .header, line: line, depth: depth)
            document.add(.table(table), forKey: part.name, line: line, in: parent)
            return table
        }
        switch slot.item {
        case .table(let table):
            switch document.nodes[table].kind {
            case .implicit:
                document.nodes[table].kind = .header
                document.nodes[table].line = line
                document.nodes[parent].slots[part.name]?.line = line
                return table
            case .header:
                throw error("table '\(path)' is already defined", at: part.offset)
            case .dotted:
                throw error("table '\(path)' is already defined by dotted keys", at: part.offset)
            case .inline:
                throw error("table '\(path)' is already defined as an inline table", at: part.offset)
            }
        case .tableArray:
            throw error("'\(path)' is already an array of tables", at: part.offset)
        case .array:
            throw error("key '\(path)' is already defined as an array", at: part.offset)
        case .value(let value):
            throw error("key '\(path)' is already defined as \(Self.withArticle(value))", at: part.offset)
        }
    }

    /// The last part of `[[a.b]]`: a new element of a new or existing array of tables.
    private mutating func appendTableArrayElement(
        _ part: KeyPart, key: [KeyPart], in parent: Int, depth: Int, line: Int
    ) throws(TOMLError) -> Int {
        var path: String { Self.describe(key) }
        try checkDepth(depth + 1, at: part.offset)
        guard let slot = document.nodes[parent].slots[part.name] else {
            let element = document.makeNode(kind: .header, line: line, depth: depth + 1)
            document.tableArrays.append([element])
            document.add(.tableArray(document.tableArrays.count - 1), forKey: part.name, line: line, in: parent)
            return element
        }
        switch slot.item {
        case .tableArray(let array):
            let element = document.makeNode(kind: .header, line: line, depth: depth + 1)
            document.tableArrays[array].append(element)
            return element
        case .table:
            throw error("'\(path)' is already defined as a table, not an array of tables", at: part.offset)
        case .array:
            throw error("'\(path)' is an array value; it cannot be extended by [[\(path)]]", at: part.offset)
        case .value(let value):
            throw error("key '\(path)' is already defined as \(Self.withArticle(value))", at: part.offset)
        }
    }

    /// Stores a key's value, walking (and creating) the tables of a dotted key.
    /// `prefix` is the path of `start` for messages (empty inside inline tables).
    @inline(never)  // keeps the recursive value parsers' stack frames small
    mutating func insert(
        _ item: TOMLDocument.Item, at key: [KeyPart], into start: Int, line: Int, prefix: [KeyPart]
    ) throws(TOMLError) {
        var table = start
        for (index, part) in zip(key.indices.dropLast(), key.dropLast()) {
            var path: String { Self.describe(prefix + key[...index]) }
            guard let slot = document.nodes[table].slots[part.name] else {
                let depth = document.nodes[table].depth + 1
                try checkDepth(depth, at: part.offset)
                let child = document.makeNode(kind: .dotted, line: line, depth: depth)
                document.add(.table(child), forKey: part.name, line: line, in: table)
                table = child
                continue
            }
            switch slot.item {
            case .table(let child):
                switch document.nodes[child].kind {
                case .dotted:
                    break
                case .implicit:
                    // Created only as the parent of a header: dotted keys may define it.
                    document.nodes[child].kind = .dotted
                case .header:
                    throw error(
                        "table '\(path)' is defined by a [header]; dotted keys cannot add to it", at: part.offset)
                case .inline:
                    throw error("inline table '\(path)' cannot be extended", at: part.offset)
                }
                table = child
            case .tableArray:
                throw error(
                    "'\(path)' is an array of tables; dotted keys cannot add to it", at: part.offset)
            case .array:
                throw error("key '\(path)' is already defined as an array", at: part.offset)
            case .value(let value):
                throw error("key '\(path)' is already defined as \(Self.withArticle(value))", at: part.offset)
            }
        }
        let last = key[key.count - 1]
        if document.nodes[table].slots[last.name] != nil {
            throw error("duplicate key '\(Self.describe(prefix + key))'", at: last.offset)
        }
        document.add(item, forKey: last.name, line: line, in: table)
    }
}
