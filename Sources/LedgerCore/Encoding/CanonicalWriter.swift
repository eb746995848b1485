/// Appends canonical encodings to a byte buffer.
///
/// Format v1: each value is a tag byte followed by its payload. Integers are zigzag LEB128
/// (minimal); byte strings and strings are a LEB128 length then the bytes; lists are a count then
/// the elements; maps are a count then (key length, key UTF-8, value) with keys in strictly
/// increasing byte order. Typed records (transactions, blocks) are fixed sequences of such values.
public struct CanonicalWriter: Sendable {
    /// The bytes written so far.
    public internal(set) var bytes: [UInt8] = []

    public init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

    /// Writes any value.
    public mutating func write(_ value: CanonicalValue) {
        switch value {
        case .null: bytes.append(CanonicalTag.null.rawValue)
        case .bool(let b): bytes.append(b ? CanonicalTag.true.rawValue : CanonicalTag.false.rawValue)
        case .int(let i): write(int: i)
        case .bytes(let b): write(bytes: b)
        case .string(let s): write(string: s)
        case .list(let items):
            writeListHeader(count: items.count)
            for item in items { write(item) }
        case .map(let entries):
            writeMapHeader(count: entries.count)
            for entry in entries.entries {
                writeMapKey(entry.key)
                write(entry.value)
            }
        }
    }

    /// A list's tag and count; the elements follow.
    public mutating func writeListHeader(count: Int) {
        bytes.append(CanonicalTag.list.rawValue)
        writeVarint(UInt64(count))
    }

    /// A map's tag and count; the entries follow, each a key (`writeMapKey`) then its value, keys in
    /// canonical order.
    public mutating func writeMapHeader(count: Int) {
        bytes.append(CanonicalTag.map.rawValue)
        writeVarint(UInt64(count))
    }

    public mutating func writeMapKey(_ key: String) { writeRawString(key) }

    /// A list's or map's tag and a one-byte count to be set by `setHeaderCount` once the entries
    /// that follow are counted (the byte encoder writes entries before it knows how many there are).
    mutating func writeHeaderPlaceholder(_ tag: CanonicalTag) {
        bytes.append(tag.rawValue)
        bytes.append(0)
    }

    /// Sets the count of the header `writeHeaderPlaceholder` wrote at `offset`; a count of 128 or
    /// more takes more than the placeholder's byte, and moves what follows.
    mutating func setHeaderCount(at offset: Int, _ count: Int) {
        if count < 0x80 {
            bytes[offset + 1] = UInt8(count)
            return
        }
        var varint: [UInt8] = []
        var v = UInt64(count)
        while v >= 0x80 {
            varint.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        varint.append(UInt8(v))
        bytes.replaceSubrange((offset + 1)...(offset + 1), with: varint)
    }

    /// Writes a tagged boolean.
    public mutating func writeBool(_ value: Bool) { bytes.append(value ? CanonicalTag.true.rawValue : CanonicalTag.false.rawValue) }

    /// Writes a tagged integer.
    public mutating func write(int value: Int64) {
        bytes.append(CanonicalTag.int.rawValue)
        // Zigzag maps small magnitudes of either sign to small unsigned numbers.
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Writes a tagged unsigned integer (must fit Int64; sequence numbers and heights do).
    public mutating func write(uint value: UInt64) {
        precondition(value <= UInt64(Int64.max), "canonical integers are signed 64-bit")
        write(int: Int64(value))
    }

    /// Writes a tagged byte string.
    public mutating func write(bytes value: some Collection<UInt8>) {
        bytes.append(CanonicalTag.bytes.rawValue)
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Writes a 32-byte digest as a tagged byte string.
    public mutating func write(hash: Hash256) {
        bytes.append(CanonicalTag.bytes.rawValue)
        writeVarint(32)
        hash.withBytes { bytes.append(contentsOf: $0) }
    }

    /// Writes a tagged UTF-8 string.
    public mutating func write(string value: String) {
        bytes.append(CanonicalTag.string.rawValue)
        writeRawString(value)
    }

    /// Writes null or the value.
    public mutating func write(optionalUInt value: UInt64?) {
        if let value { write(uint: value) } else { bytes.append(CanonicalTag.null.rawValue) }
    }

    /// Writes a raw, untagged byte (used only for format version markers).
    public mutating func write(versionByte: UInt8) { bytes.append(versionByte) }

    private mutating func writeRawString(_ value: String) {
        let utf8 = value.utf8
        writeVarint(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    private mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
}
