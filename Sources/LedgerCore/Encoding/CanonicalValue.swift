/// A value in CareLedger's canonical binary encoding: integers, byte strings, UTF-8 strings,
/// booleans, null, lists and string-keyed maps. No floats, by design (principle 4).
public enum CanonicalValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case bytes([UInt8])
    case string(String)
    case list([CanonicalValue])
    /// A map; its entries are kept in the canonical order (keys in strictly increasing UTF-8 byte order).
    case map(CanonicalMap)

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
    public var mapValue: CanonicalMap? { if case .map(let m) = self { m } else { nil } }
    /// Map lookup; nil when this is not a map or has no such key.
    public subscript(key: String) -> CanonicalValue? { mapValue?[key] }
}

/// The entries of a canonical map, kept in canonical order: keys in strictly increasing UTF-8 byte
/// order, each once. Reading a map keeps the order it was validated in and writing one walks it, so
/// neither hashes nor sorts; a lookup is a binary search (maps are small: a struct's fields).
public struct CanonicalMap: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    public struct Entry: Sendable, Hashable {
        public let key: String
        public var value: CanonicalValue
    }

    /// In canonical order.
    public private(set) var entries: [Entry]

    public init() { entries = [] }

    /// Entries already in canonical order, keys unique (the reader checked them).
    init(canonical entries: [Entry]) { self.entries = entries }

    /// Entries in any order; where a key repeats (the same UTF-8 bytes), the last one counts.
    public init(_ unordered: some Sequence<(String, CanonicalValue)>) {
        let all = Array(unordered)
        entries = Self.canonicalOrder(of: all, key: \.0).map { Entry(key: all[$0].0, value: all[$0].1) }
    }

    /// The positions of `items` in canonical key order, a repeated key by its last position only.
    /// A stable insertion sort: the items are a struct's fields, a handful, few out of order.
    static func canonicalOrder<T>(of items: [T], key: (T) -> String) -> [Int] {
        var order = Array(items.indices)
        for i in order.indices.dropFirst() {
            var j = i
            while j > 0, String.utf8Order(key(items[order[j - 1]]), key(items[order[j]])) > 0 {
                order.swapAt(j - 1, j)
                j -= 1
            }
        }
        var kept = 0
        for i in order.indices {
            if kept > 0, String.utf8Order(key(items[order[kept - 1]]), key(items[order[i]])) == 0 { order[kept - 1] = order[i] } else {
                order[kept] = order[i]
                kept += 1
            }
        }
        order.removeLast(order.count - kept)
        return order
    }

    public init(_ dictionary: [String: CanonicalValue]) { self.init(dictionary.lazy.map { ($0.key, $0.value) }) }

    public init(dictionaryLiteral elements: (String, CanonicalValue)...) { self.init(elements) }

    // MARK: Collection of (key, value), in canonical order

    public var startIndex: Int { 0 }
    public var endIndex: Int { entries.count }
    public subscript(position: Int) -> (key: String, value: CanonicalValue) { (entries[position].key, entries[position].value) }

    /// The keys, in canonical order.
    public var keys: [String] { entries.map(\.key) }

    /// The value at `key`; setting nil removes the entry.
    public subscript(key: String) -> CanonicalValue? {
        get {
            let (index, found) = search(key)
            return found ? entries[index].value : nil
        }
        set {
            let (index, found) = search(key)
            switch (found, newValue) {
            case (true, let value?): entries[index].value = value
            case (true, nil): entries.remove(at: index)
            case (false, let value?): entries.insert(Entry(key: key, value: value), at: index)
            case (false, nil): break
            }
        }
    }

    /// The values transformed, keyed as before.
    public func mapValues<T>(_ transform: (CanonicalValue) throws -> T) rethrows -> [String: T] {
        var out: [String: T] = [:]
        out.reserveCapacity(entries.count)
        for entry in entries { out[entry.key] = try transform(entry.value) }
        return out
    }

    /// Where `key` is, or where it would be inserted.
    private func search(_ key: String) -> (index: Int, found: Bool) {
        var (low, high) = (0, entries.count)
        while low < high {
            let mid = (low + high) / 2
            let order = String.utf8Order(entries[mid].key, key)
            if order == 0 { return (mid, true) }
            if order < 0 { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }
}

extension String {
    /// -1, 0 or 1 as `a`'s UTF-8 bytes sort before, equal or after `b`'s: the order of canonical
    /// map keys and of state keys (which Swift's `<`, by Unicode scalars after normalization, is not).
    @inlinable
    public static func utf8Order(_ a: String, _ b: String) -> Int {
        var (a, b) = (a, b)
        return a.withUTF8 { x in b.withUTF8 { y in byteOrder(x, y) } }
    }

    /// -1, 0 or 1 as `x` sorts before, equals or sorts after `y`, byte by byte (a prefix first).
    @inlinable
    static func byteOrder(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Int {
        for i in 0..<Swift.min(x.count, y.count) where x[i] != y[i] { return x[i] < y[i] ? -1 : 1 }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }
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
