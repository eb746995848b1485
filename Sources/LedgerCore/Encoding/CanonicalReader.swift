/// Reads canonical encodings from untrusted bytes, rejecting anything non-canonical.
public struct CanonicalReader: Sendable {
    private let bytes: [UInt8]
    /// Offset of the next unread byte.
    public private(set) var offset: Int
    private let limits: CanonicalLimits

    public init(_ bytes: [UInt8], limits: CanonicalLimits = .standard) {
        self.bytes = bytes
        self.offset = 0
        self.limits = limits
    }

    /// True when every byte has been consumed.
    public var isAtEnd: Bool { offset == bytes.count }

    /// Fails unless every byte has been consumed.
    public func finish() throws(CanonicalError) {
        if offset != bytes.count { throw .trailingBytes(offset: offset, count: bytes.count - offset) }
    }

    /// Reads any value.
    public mutating func readValue() throws(CanonicalError) -> CanonicalValue {
        try readValue(depth: 0)
    }

    /// Checks one value as `readValue` does, and steps over it without building it.
    public mutating func skipValue() throws(CanonicalError) {
        try skipValue(depth: 0)
    }

    private mutating func skipValue(depth: Int) throws(CanonicalError) {
        let start = offset
        let tagByte = try readByte()
        guard let tag = CanonicalTag(rawValue: tagByte) else { throw .unknownTag(offset: start, tag: tagByte) }
        switch tag {
        case .null, .false, .true: return
        case .int: _ = try readVarint()
        case .bytes: _ = try readRawRange()
        case .string:
            let stringStart = offset
            guard Self.isUTF8(bytes[try readRawRange()]) else { throw .invalidUTF8(offset: stringStart) }
        case .list:
            guard depth < limits.depthMax else { throw .tooDeep(offset: start) }
            for _ in 0..<(try readCount()) { try skipValue(depth: depth + 1) }
        case .map:
            guard depth < limits.depthMax else { throw .tooDeep(offset: start) }
            var previousKey: Range<Int>? = nil
            for _ in 0..<(try readCount()) {
                previousKey = try readMapKey(after: previousKey)
                try skipValue(depth: depth + 1)
            }
        }
    }

    /// Where the next map key lies, checked: valid UTF-8, and after `previous` in byte order.
    private mutating func readMapKey(after previous: Range<Int>?) throws(CanonicalError) -> Range<Int> {
        let keyOffset = offset
        let key = try readRawRange()
        if let previous, !bytes[previous].lexicographicallyPrecedes(bytes[key]) { throw .unsortedMapKeys(offset: keyOffset) }
        guard Self.isUTF8(bytes[key]) else { throw .invalidUTF8(offset: keyOffset) }
        return key
    }

    /// Whether `run` is valid UTF-8 (ASCII, the usual case, without building a String).
    private static func isUTF8(_ run: ArraySlice<UInt8>) -> Bool {
        run.allSatisfy { $0 < 0x80 } || String(validating: run, as: UTF8.self) != nil
    }

    private mutating func readValue(depth: Int) throws(CanonicalError) -> CanonicalValue {
        let start = offset
        let tagByte = try readByte()
        guard let tag = CanonicalTag(rawValue: tagByte) else { throw .unknownTag(offset: start, tag: tagByte) }
        switch tag {
        case .null: return .null
        case .false: return .bool(false)
        case .true: return .bool(true)
        case .int: return .int(try readZigzag())
        case .bytes: return .bytes(try readRawBytes())
        case .string: return .string(try readRawString())
        case .list:
            guard depth < limits.depthMax else { throw .tooDeep(offset: start) }
            let count = try readCount()
            var items: [CanonicalValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try readValue(depth: depth + 1)) }
            return .list(items)
        case .map:
            guard depth < limits.depthMax else { throw .tooDeep(offset: start) }
            let count = try readCount()
            var entries: [CanonicalMap.Entry] = []
            entries.reserveCapacity(count)
            var previousKey: Range<Int>? = nil
            for _ in 0..<count {
                let key = try readMapKey(after: previousKey)
                previousKey = key
                entries.append(CanonicalMap.Entry(key: String(decoding: bytes[key], as: UTF8.self), value: try readValue(depth: depth + 1)))
            }
            return .map(CanonicalMap(canonical: entries))
        }
    }

    // MARK: typed reads, for fixed-layout records

    /// Reads a tagged integer.
    public mutating func readInt() throws(CanonicalError) -> Int64 {
        try expectTag(.int, "integer")
        return try readZigzag()
    }

    /// Reads a tagged non-negative integer.
    public mutating func readUInt() throws(CanonicalError) -> UInt64 {
        let start = offset
        let value = try readInt()
        guard value >= 0 else { throw .unexpected(offset: start, expected: "non-negative integer") }
        return UInt64(value)
    }

    /// Reads null or a non-negative integer.
    public mutating func readOptionalUInt() throws(CanonicalError) -> UInt64? {
        if offset < bytes.count, bytes[offset] == CanonicalTag.null.rawValue {
            offset += 1
            return nil
        }
        return try readUInt()
    }

    /// Reads a tagged byte string.
    public mutating func readBytes() throws(CanonicalError) -> [UInt8] {
        try expectTag(.bytes, "byte string")
        return try readRawBytes()
    }

    /// Reads a tagged byte string of exactly `count` bytes.
    public mutating func readBytes(count: Int) throws(CanonicalError) -> [UInt8] {
        let start = offset
        let value = try readBytes()
        guard value.count == count else { throw .unexpected(offset: start, expected: "\(count)-byte string") }
        return value
    }

    /// Reads a 32-byte digest.
    public mutating func readHash() throws(CanonicalError) -> Hash256 {
        Hash256(bytes: try readBytes(count: 32))!
    }

    /// Reads a tagged UTF-8 string.
    public mutating func readString() throws(CanonicalError) -> String {
        try expectTag(.string, "string")
        return try readRawString()
    }

    /// Reads the raw version byte at the start of a typed record.
    public mutating func readVersionByte() throws(CanonicalError) -> UInt8 { try readByte() }

    // MARK: primitives

    private mutating func expectTag(_ tag: CanonicalTag, _ what: String) throws(CanonicalError) {
        let start = offset
        let byte = try readByte()
        guard byte == tag.rawValue else {
            if CanonicalTag(rawValue: byte) == nil { throw .unknownTag(offset: start, tag: byte) }
            throw .unexpected(offset: start, expected: what)
        }
    }

    private mutating func readByte() throws(CanonicalError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    private mutating func readVarint() throws(CanonicalError) -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            let payload = UInt64(byte & 0x7f)
            if shift == 63 && payload > 1 { throw .nonMinimalVarint(offset: start) }
            result |= payload << shift
            if byte & 0x80 == 0 {
                // A final zero group after the first byte means a shorter encoding existed.
                if byte == 0 && shift > 0 { throw .nonMinimalVarint(offset: start) }
                return result
            }
            shift += 7
            if shift > 63 { throw .nonMinimalVarint(offset: start) }
        }
    }

    private mutating func readZigzag() throws(CanonicalError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    private mutating func readLength(max: Int) throws(CanonicalError) -> Int {
        let start = offset
        let length = try readVarint()
        let available = bytes.count - offset
        guard length <= UInt64(max) else { throw .lengthTooLarge(offset: start, length: length, max: max) }
        guard length <= UInt64(available) else { throw .truncated(offset: bytes.count) }
        return Int(length)
    }

    private mutating func readCount() throws(CanonicalError) -> Int {
        let start = offset
        let count = try readVarint()
        // Every element takes at least one byte, so a count beyond the remaining input is a lie.
        guard count <= UInt64(limits.countMax) else {
            throw .lengthTooLarge(offset: start, length: count, max: limits.countMax)
        }
        guard count <= UInt64(bytes.count - offset) else { throw .truncated(offset: bytes.count) }
        return Int(count)
    }

    /// Where the next length-prefixed byte run lies; the offset moves past it.
    private mutating func readRawRange() throws(CanonicalError) -> Range<Int> {
        let length = try readLength(max: limits.lengthBytesMax)
        defer { offset += length }
        return offset..<offset + length
    }

    private mutating func readRawBytes() throws(CanonicalError) -> [UInt8] { Array(bytes[try readRawRange()]) }

    private mutating func readRawString() throws(CanonicalError) -> String {
        let start = offset
        guard let string = String(validating: bytes[try readRawRange()], as: UTF8.self) else { throw .invalidUTF8(offset: start) }
        return string
    }
}
