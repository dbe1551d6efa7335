import GatehouseCrypto
import GatehouseJSON
import Synchronization

/// Why a `pinned_tools_file` could not be read.
public struct ToolPinsFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// §6.7 tool pinning (rug-pull protection): the digest of each tool's definition, by tool name.
///
/// The digest is SHA-256 over the canonical JSON of `{"description", "inputSchema", "name"}` (members
/// that the tool lacks are left out): keys sorted by their UTF-8 bytes at every level, no whitespace,
/// strings escaped as `JSONWriter` does, numbers as their exact text. Reformatting or reordering a
/// definition therefore keeps its digest; changing a word of the description or the schema does not.
///
/// The first definition seen for a name is pinned (unless the pins file already has it). A later,
/// different one marks the tool changed: `observe` reports it once per new definition, and the tool
/// stays changed (`isBlocked`) until an operator re-pins, even if the original definition comes back.
///
/// The `pinned_tools_file` format is a JSON object of tool name → `"sha256:<64 lowercase hex>"`,
/// written one member per line with names sorted, e.g. `{"echo": "sha256:3f…"}`.
public final class ToolPins: Sendable {
    private struct State: Sendable {
        var pinned: [String: [UInt8]]
        /// Changed tools and the last different digest reported for each.
        var changed: [String: [UInt8]] = [:]
    }

    private let state: Mutex<State>
    /// Lets `isBlocked` answer without the lock while nothing has changed (the usual case).
    private let changedCount = Atomic<Int>(0)

    /// Pins `pinned` (tool name → 32-byte SHA-256 digest), e.g. from the pins file.
    public init(pinned: [String: [UInt8]] = [:]) {
        state = Mutex(State(pinned: pinned))
    }

    /// Reads the contents of a `pinned_tools_file`.
    public static func load(file bytes: [UInt8]) throws(ToolPinsFileError) -> ToolPins {
        let document: JSONValue
        do {
            document = try JSONReader.parse(bytes, maxDepth: 2)
        } catch {
            throw ToolPinsFileError("not valid JSON: \(error)")
        }
        guard case .object(let object) = document else {
            throw ToolPinsFileError("expected a JSON object of tool name to \"sha256:<hex>\"")
        }
        var pinned: [String: [UInt8]] = [:]
        for (name, value) in object {
            guard case .string(let text) = value, let digest = APIKeyEntry.digest(fromHashText: text) else {
                throw ToolPinsFileError("tool \(JSONWriter.quoted(name)): expected \"sha256:<64 hex digits>\"")
            }
            pinned[name] = digest
        }
        return ToolPins(pinned: pinned)
    }

    /// The pins as a `pinned_tools_file`.
    public func serialize() -> [UInt8] {
        Self.serialize(pinned)
    }

    /// `pinned` as a `pinned_tools_file`: names sorted, one per line, ending in a newline.
    public static func serialize(_ pinned: [String: [UInt8]]) -> [UInt8] {
        let names = pinned.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var out: [UInt8] = Array("{".utf8)
        for (k, name) in names.enumerated() {
            out.append(contentsOf: (k == 0 ? "\n  " : ",\n  ").utf8)
            JSONWriter.writeString(name, into: &out)
            out.append(contentsOf: ": ".utf8)
            JSONWriter.writeString("sha256:" + Encoding.hex(pinned[name] ?? []), into: &out)
        }
        out.append(contentsOf: (names.isEmpty ? "}\n" : "\n}\n").utf8)
        return out
    }

    /// Tool name → pinned digest.
    public var pinned: [String: [UInt8]] {
        state.withLock { $0.pinned }
    }

    /// The tools seen with a definition other than the pinned one, sorted.
    public var changedTools: [String] {
        state.withLock { $0.changed.keys.sorted() }
    }

    /// Checks the tools of a `tools/list` result against the pins: a new name is pinned, a different
    /// definition marks the tool changed. Returns the names whose change is new (to log once each).
    public func observe(tools: [JSONValue]) -> [String] {
        var digests: [(String, [UInt8])] = []
        digests.reserveCapacity(tools.count)
        for tool in tools {
            guard case .string(let name)? = tool["name"], let digest = Self.digest(of: tool) else { continue }
            digests.append((name, digest))
        }
        guard !digests.isEmpty else { return [] }
        return state.withLock { state in
            var newlyChanged: [String] = []
            for (name, digest) in digests {
                guard let pin = state.pinned[name] else {
                    state.pinned[name] = digest
                    continue
                }
                if pin == digest { continue }
                if state.changed[name] == digest { continue }
                if state.changed.updateValue(digest, forKey: name) == nil {
                    changedCount.wrappingAdd(1, ordering: .relaxed)
                }
                newlyChanged.append(name)
            }
            return newlyChanged
        }
    }

    /// Whether `tool`'s definition changed since it was pinned (with `enforce`: hidden and refused).
    public func isBlocked(tool: String) -> Bool {
        if changedCount.load(ordering: .relaxed) == 0 { return false }
        return state.withLock { $0.changed[tool] != nil }
    }

    /// Accepts the current definitions of changed tools: `digests` (from a fresh `gatehouse pin`)
    /// replaces the pins, and every tool is unblocked.
    public func repin(_ digests: [String: [UInt8]]) {
        state.withLock { state in
            state.pinned = digests
            state.changed = [:]
            changedCount.store(0, ordering: .relaxed)
        }
    }

    // MARK: - Digests

    /// The SHA-256 of `tool`'s canonical definition; nil when `tool` is not an object with a string `name`.
    public static func digest(of tool: JSONValue) -> [UInt8]? {
        guard let text = canonicalDefinition(of: tool) else { return nil }
        return Digest.sha256(text)
    }

    /// The canonical JSON of the pinned part of `tool` (name, description, inputSchema).
    public static func canonicalDefinition(of tool: JSONValue) -> [UInt8]? {
        guard case .object(let object) = tool else { return nil }
        var description: JSONValue? = nil
        var inputSchema: JSONValue? = nil
        var name: JSONValue? = nil
        for member in object.members {
            switch member.key {
            case "description": description = member.value
            case "inputSchema": inputSchema = member.value
            case "name": name = member.value
            default: continue
            }
        }
        guard case .string? = name else { return nil }
        // The three keys in byte order, as `writeCanonical` would sort them.
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(UInt8(ascii: "{"))
        for (key, value) in [("description", description), ("inputSchema", inputSchema), ("name", name)] {
            guard let value else { continue }
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            writeCanonical(value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Compact JSON with object keys sorted by their UTF-8 bytes, recursively.
    static func writeCanonical(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (k, element) in elements.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                writeCanonical(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            var members = object.members
            let precedes = { (a: (key: String, value: JSONValue), b: (key: String, value: JSONValue)) in
                a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
            }
            // Schemas are usually written in order already: sort only when needed.
            if zip(members, members.dropFirst()).contains(where: { !precedes($0, $1) }) { members.sort(by: precedes) }
            out.append(UInt8(ascii: "{"))
            for (k, member) in members.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                writeCanonical(member.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .null, .bool, .number, .string:
            JSONWriter.write(value, into: &out)
        }
    }
}
