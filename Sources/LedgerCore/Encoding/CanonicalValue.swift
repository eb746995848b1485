/// A value in CareLedger's canonical binary encoding: integers, byte strings, UTF-8 strings,
/// booleans, null, lists and string-keyed maps. No floats, by design (principle 4).
public indirect enum CanonicalValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case bytes([UInt8])
    case string(String)
    case list([CanonicalValue])
    /// A map; its canonical form has keys in strictly increasing UTF-8 byte order.
    case map([String: CanonicalValue])

    /// The canonical bytes of this value.
    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(self)
        return writer.bytes
    }

    /// Decodes exactly one value spanning all of `bytes`; rejects non-canonical input.
    public init(decoding bytes: [UInt8], limits: CanonicalLimits = .standard) throws(CanonicalError) {
        var reader = CanonicalReader(bytes, limits: limits)
        let value = try reader.readValue()
        try reader.finish()
        self = value
    }
}

extension CanonicalValue {
    /// The string, if this is `.string`.
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    /// The integer, if this is `.int`.
    public var intValue: Int64? { if case .int(let i) = self { i } else { nil } }
    /// The bytes, if this is `.bytes`.
    public var bytesValue: [UInt8]? { if case .bytes(let b) = self { b } else { nil } }
    /// The boolean, if this is `.bool`.
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    /// The elements, if this is `.list`.
    public var listValue: [CanonicalValue]? { if case .list(let l) = self { l } else { nil } }
    /// The entries, if this is `.map`.
    public var mapValue: [String: CanonicalValue]? { if case .map(let m) = self { m } else { nil } }
    /// Map lookup; nil when this is not a map or has no such key.
    public subscript(key: String) -> CanonicalValue? { mapValue?[key] }
}

/// Wire tags of the canonical encoding, version 1. Never renumbered.
enum CanonicalTag: UInt8 {
    case null = 0x00
    case `false` = 0x01
    case `true` = 0x02
    case int = 0x03
    case bytes = 0x04
    case string = 0x05
    case list = 0x06
    case map = 0x07
}

/// Limits enforced while decoding untrusted canonical input.
public struct CanonicalLimits: Sendable {
    /// Longest byte string or UTF-8 string, in bytes.
    public var lengthBytesMax: Int
    /// Most elements in one list or entries in one map.
    public var countMax: Int
    /// Deepest nesting of lists and maps.
    public var depthMax: Int

    public init(lengthBytesMax: Int, countMax: Int, depthMax: Int) {
        (self.lengthBytesMax, self.countMax, self.depthMax) = (lengthBytesMax, countMax, depthMax)
    }

    /// Defaults sized for transactions (see `Limits`).
    public static let standard = CanonicalLimits(
        lengthBytesMax: Limits.transactionBytesMax, countMax: 4_096, depthMax: 16)
}

/// Why canonical input was rejected. Each case is a distinct, stable reason.
public enum CanonicalError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Input ended before the value did.
    case truncated(offset: Int)
    /// Bytes remained after the value.
    case trailingBytes(offset: Int, count: Int)
    /// A tag byte that the encoding does not define.
    case unknownTag(offset: Int, tag: UInt8)
    /// A varint with redundant leading zero groups, or one that overflows 64 bits.
    case nonMinimalVarint(offset: Int)
    /// A length or count that exceeds the remaining input or a configured limit.
    case lengthTooLarge(offset: Int, length: UInt64, max: Int)
    /// A string that is not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// Map keys out of order or duplicated.
    case unsortedMapKeys(offset: Int)
    /// Lists/maps nested deeper than allowed.
    case tooDeep(offset: Int)
    /// A structural expectation of a typed decoder failed (wrong tag, wrong field size).
    case unexpected(offset: Int, expected: String)

    public var description: String {
        switch self {
        case .truncated(let o): "input truncated at byte \(o)"
        case .trailingBytes(let o, let n): "\(n) trailing byte(s) after the value at byte \(o)"
        case .unknownTag(let o, let t): "unknown tag 0x\(Hex.encode([t])) at byte \(o)"
        case .nonMinimalVarint(let o): "non-minimal or overflowing varint at byte \(o)"
        case .lengthTooLarge(let o, let l, let m): "length \(l) at byte \(o) exceeds the limit \(m)"
        case .invalidUTF8(let o): "invalid UTF-8 in string at byte \(o)"
        case .unsortedMapKeys(let o): "map keys not strictly increasing at byte \(o)"
        case .tooDeep(let o): "nesting too deep at byte \(o)"
        case .unexpected(let o, let what): "expected \(what) at byte \(o)"
        }
    }
}
