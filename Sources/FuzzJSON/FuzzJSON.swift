import FuzzSupport
import GatehouseJSON

/// libFuzzer target for `JSONReader` and `JSONWriter`. The first input byte picks `maxDepth` (0 to 63,
/// or the ceiling); the rest is the document. Properties checked beyond "no crash":
/// - an accepted document is valid UTF-8 and its value nests no deeper than `maxDepth`, and the reader
///   accepts it with `maxDepth` equal to that depth and refuses it with one less;
/// - serialize(parse(x)) parses to an equal value, and serializing that gives the same bytes again;
/// - a refusal points inside the input (or one past its end).
@main
enum FuzzJSON {
    static func main() {
        FuzzDriver.run { input in
            guard let selector = input.first else { return }
            let document = Array(input.dropFirst())
            let maxDepth = selector >= 0xC0 ? JSONReader.depthCeiling : Int(selector & 63)
            let value: JSONValue
            do throws(JSONError) {
                value = try JSONReader.parse(document, maxDepth: maxDepth)
            } catch {
                FuzzDriver.require(error.offset >= 0 && error.offset <= document.count, "error offset \(error.offset)")
                return
            }
            FuzzDriver.require(String(validating: document, as: UTF8.self) != nil, "accepted invalid UTF-8")
            let valueDepth = depth(value)
            FuzzDriver.require(valueDepth <= maxDepth, "depth \(valueDepth) above maxDepth \(maxDepth)")
            FuzzDriver.require(
                (try? JSONReader.parse(document, maxDepth: valueDepth)) == value, "refused at its own depth")
            if valueDepth > 0 {
                FuzzDriver.require(
                    (try? JSONReader.parse(document, maxDepth: valueDepth - 1)) == nil, "accepted too deep")
            }

            let text = JSONWriter.serialize(value)
            let again: JSONValue
            do throws(JSONError) {
                again = try JSONReader.parse(text, maxDepth: JSONReader.depthCeiling)
            } catch {
                FuzzDriver.fail("serialized value refused: \(error)")
            }
            FuzzDriver.require(again == value, "serialize(parse(x)) parses to another value")
            FuzzDriver.require(JSONWriter.serialize(again) == text, "serialization is not a fixed point")
        }
    }

    /// Nested arrays and objects (a scalar has depth 0), without recursion on the Swift stack.
    static func depth(_ value: JSONValue) -> Int {
        var deepest = 0
        var stack: [(JSONValue, Int)] = [(value, 0)]
        while let (v, level) = stack.popLast() {
            switch v {
            case .array(let elements):
                deepest = max(deepest, level + 1)
                for element in elements { stack.append((element, level + 1)) }
            case .object(let object):
                deepest = max(deepest, level + 1)
                for member in object.members { stack.append((member.value, level + 1)) }
            default:
                break
            }
        }
        return deepest
    }
}
