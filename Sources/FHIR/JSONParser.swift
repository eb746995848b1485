import Foundation

/// A strict RFC 8259 parser for one UTF-8 JSON text whose top-level value is an object. It builds
/// the values JSONSerialization does (`[String: Any]`, `[Any]`, `String`, `NSNumber`, `NSNull`) and
/// refuses values nested deeper than a limit while it parses.
///
/// Numbers without a fraction or exponent that fit in Int64 become `NSNumber(value: Int64)`, other
/// numbers `NSNumber(value: Double)` (a number too large for a Double is refused); `true` and
/// `false` are `NSNumber(value: Bool)` (objCType "c"). Of duplicate keys the last one wins. A UTF-8
/// byte order mark before the text is skipped, as JSONSerialization does; nothing else is lenient.
struct JSONParser {
    /// Why a text was refused.
    enum Failure: Error, Equatable {
        /// Not JSON (or not UTF-8); `at` is the byte offset where parsing stopped.
        case syntax(at: Int)
        /// JSON, but its top-level value is not an object.
        case notAnObject
        /// A value is nested deeper than the limit (the top-level value is level 1).
        case tooDeep
    }

    private let base: UnsafePointer<UInt8>
    private let end: Int
    private let depthMax: Int
    private var index = 0
    /// The unescaped bytes of the string being read, reused from string to string.
    private var scratch: [UInt8] = []
    /// The members of the objects being read, innermost last.
    private var members: [(String, Any)] = []
    private let yes = NSNumber(value: true)
    private let no = NSNumber(value: false)
    private let null = NSNull()

    private init(base: UnsafePointer<UInt8>, end: Int, depthMax: Int) {
        self.base = base
        self.end = end
        self.depthMax = depthMax
    }

    /// The object that `bytes` hold, with no value nested deeper than `depthMax` levels. A text
    /// that is JSON but not an object fails with `notAnObject`, even when it is also too deep.
    static func object(in bytes: UnsafeBufferPointer<UInt8>, depthMax: Int) throws(Failure) -> [String: Any] {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { throw .syntax(at: 0) }
        var parser = JSONParser(base: base, end: bytes.count, depthMax: depthMax)
        if bytes.count >= 3, base[0] == 0xEF, base[1] == 0xBB, base[2] == 0xBF { parser.index = 3 }
        parser.skipWhitespace()
        let isObject = parser.index < parser.end && base[parser.index] == Byte.openBrace
        let value: Any
        do { value = try parser.value(level: 1) } catch .tooDeep where !isObject { throw .notAnObject }
        parser.skipWhitespace()
        guard parser.index == parser.end else { throw .syntax(at: parser.index) }
        guard let object = value as? [String: Any] else { throw .notAnObject }
        return object
    }

    /// The value at the cursor, which sits at nesting `level`.
    private mutating func value(level: Int) throws(Failure) -> Any {
        guard level <= depthMax else { throw .tooDeep }
        guard index < end else { throw .syntax(at: index) }
        switch base[index] {
        case Byte.quote:
            index += 1
            return try string()
        case Byte.openBrace:
            index += 1
            return try object(level: level)
        case Byte.openBracket:
            index += 1
            return try array(level: level)
        case Byte.t:
            try literal(0x6575_7274, length: 4)   // "true", little-endian
            return yes
        case Byte.f:
            index += 1
            try literal(0x6573_6C61, length: 4)   // "alse"
            return no
        case Byte.n:
            try literal(0x6C6C_756E, length: 4)   // "null"
            return null
        case Byte.minus, Byte.zero...Byte.nine:
            return try number()
        default:
            throw .syntax(at: index)
        }
    }

    /// An object's members, the cursor just past its `{`.
    private mutating func object(level: Int) throws(Failure) -> [String: Any] {
        skipWhitespace()
        if index < end, base[index] == Byte.closeBrace {
            index += 1
            return [:]
        }
        let first = members.count
        while true {
            guard index < end, base[index] == Byte.quote else { throw .syntax(at: index) }
            index += 1
            let key = try string()
            skipWhitespace()
            guard index < end, base[index] == Byte.colon else { throw .syntax(at: index) }
            index += 1
            skipWhitespace()
            members.append((key, try value(level: level + 1)))
            skipWhitespace()
            guard index < end else { throw .syntax(at: index) }
            let byte = base[index]
            index += 1
            if byte == Byte.comma {
                skipWhitespace()
            } else if byte == Byte.closeBrace {
                // Built at its final size, so no key is hashed twice while the table grows.
                let object = [String: Any](members[first...]) { _, last in last }
                members.removeSubrange(first...)
                return object
            } else {
                throw .syntax(at: index - 1)
            }
        }
    }

    /// An array's elements, the cursor just past its `[`.
    private mutating func array(level: Int) throws(Failure) -> [Any] {
        var array: [Any] = []
        skipWhitespace()
        if index < end, base[index] == Byte.closeBracket {
            index += 1
            return array
        }
        while true {
            array.append(try value(level: level + 1))
            skipWhitespace()
            guard index < end else { throw .syntax(at: index) }
            let byte = base[index]
            index += 1
            if byte == Byte.comma {
                skipWhitespace()
            } else if byte == Byte.closeBracket {
                return array
            } else {
                throw .syntax(at: index - 1)
            }
        }
    }

    /// A string's contents, the cursor just past its opening quote.
    private mutating func string() throws(Failure) -> String {
        let start = index
        var i = index
        var seen: UInt64 = 0   // the OR of all bytes read: a bit 7 is set when one is not ASCII
        // Eight bytes at a time while none is a quote, a backslash or a control character.
        while end - i >= 8 {
            let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            guard !Self.hasSpecialByte(word) else { break }
            seen |= word
            i += 8
        }
        while i < end {
            let byte = base[i]
            if byte == Byte.quote {
                index = i + 1
                let bytes = UnsafeBufferPointer(start: base + start, count: i - start)
                if seen & 0x8080_8080_8080_8080 == 0 { return String(decoding: bytes, as: UTF8.self) }
                guard let text = String(validating: bytes, as: UTF8.self) else { throw .syntax(at: start) }
                return text
            }
            if byte == Byte.backslash { return try escapedString(from: start, escape: i) }
            guard byte >= 0x20 else { throw .syntax(at: i) }
            seen |= UInt64(byte)
            i += 1
        }
        throw .syntax(at: end)
    }

    /// Whether any of the eight bytes of `word` is `"`, `\` or below 0x20.
    @inline(__always)
    private static func hasSpecialByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        /// Bit 7 of each byte that is zero (exact once masked with the bytes below 0x80).
        func zeroBytes(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let quotes = zeroBytes(word ^ (ones &* UInt64(Byte.quote)))
        let backslashes = zeroBytes(word ^ (ones &* UInt64(Byte.backslash)))
        let controls = (word &- ones &* 0x20) & ~word & highs
        return (quotes | backslashes | controls) != 0
    }

    /// A string with escapes: `start` is where its contents begin, `escape` the first backslash.
    private mutating func escapedString(from start: Int, escape: Int) throws(Failure) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: base + start, count: escape - start))
        var i = escape
        while i < end {
            let byte = base[i]
            if byte == Byte.quote {
                index = i + 1
                guard let text = String(validating: scratch, as: UTF8.self) else { throw .syntax(at: start) }
                return text
            }
            guard byte >= 0x20 else { throw .syntax(at: i) }
            guard byte == Byte.backslash else {
                scratch.append(byte)
                i += 1
                continue
            }
            guard i + 1 < end else { throw .syntax(at: end) }
            switch base[i + 1] {
            case Byte.quote, Byte.backslash, Byte.slash: scratch.append(base[i + 1])
            case Byte.b: scratch.append(0x08)
            case Byte.f: scratch.append(0x0C)
            case Byte.n: scratch.append(0x0A)
            case Byte.r: scratch.append(0x0D)
            case Byte.t: scratch.append(0x09)
            case Byte.u:
                var code = try hex4(at: i + 2)
                if (0xD800...0xDBFF).contains(code) {
                    // A high surrogate must be followed by an escaped low one; together they are one scalar.
                    guard end - i >= 12, base[i + 6] == Byte.backslash, base[i + 7] == Byte.u else { throw .syntax(at: i) }
                    let low = try hex4(at: i + 8)
                    guard (0xDC00...0xDFFF).contains(low) else { throw .syntax(at: i + 6) }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                guard let scalar = Unicode.Scalar(code) else { throw .syntax(at: i) }   // a lone low surrogate
                UTF8.encode(scalar) { scratch.append($0) }
                i += 4
            default:
                throw .syntax(at: i)
            }
            i += 2
        }
        throw .syntax(at: end)
    }

    /// The value of the four hex digits at `offset`.
    private func hex4(at offset: Int) throws(Failure) -> UInt32 {
        guard end - offset >= 4 else { throw .syntax(at: end) }
        var code: UInt32 = 0
        for i in offset..<offset + 4 {
            let byte = base[i]
            let digit: UInt8
            switch byte {
            case Byte.zero...Byte.nine: digit = byte - Byte.zero
            case 0x41...0x46: digit = byte - 0x41 + 10   // A-F
            case 0x61...0x66: digit = byte - 0x61 + 10   // a-f
            default: throw .syntax(at: i)
            }
            code = code << 4 | UInt32(digit)
        }
        return code
    }

    /// Consumes the `length` (≤ 4) ASCII bytes of `word`, packed little-endian, at the cursor.
    private mutating func literal(_ word: UInt32, length: Int) throws(Failure) {
        guard end - index >= length else { throw .syntax(at: index) }
        for offset in 0..<length where base[index + offset] != UInt8(truncatingIfNeeded: word >> (8 * offset)) {
            throw .syntax(at: index + offset)
        }
        index += length
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func number() throws(Failure) -> NSNumber {
        let start = index
        var i = index
        let negative = base[i] == Byte.minus
        if negative { i += 1 }
        let digitsStart = i
        var magnitude: UInt64 = 0
        guard i < end, Self.isDigit(base[i]) else { throw .syntax(at: i) }
        if base[i] == Byte.zero {
            i += 1
        } else {
            while i < end, Self.isDigit(base[i]) {
                magnitude = magnitude &* 10 &+ UInt64(base[i] - Byte.zero)   // exact up to 19 digits
                i += 1
            }
        }
        let digits = i - digitsStart
        var integral = true
        if i < end, base[i] == Byte.dot {
            i += 1
            guard i < end, Self.isDigit(base[i]) else { throw .syntax(at: i) }
            while i < end, Self.isDigit(base[i]) { i += 1 }
            integral = false
        }
        if i < end, base[i] | 0x20 == Byte.e {
            i += 1
            if i < end, base[i] == Byte.plus || base[i] == Byte.minus { i += 1 }
            guard i < end, Self.isDigit(base[i]) else { throw .syntax(at: i) }
            while i < end, Self.isDigit(base[i]) { i += 1 }
            integral = false
        }
        index = i
        if integral, digits <= 19 {
            if !negative, magnitude <= UInt64(Int64.max) { return NSNumber(value: Int64(magnitude)) }
            if negative, magnitude <= UInt64(Int64.max) + 1 { return NSNumber(value: Int64(truncatingIfNeeded: 0 &- magnitude)) }
        }
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: i - start), as: UTF8.self)
        guard let double = Double(text), double.isFinite else { throw .syntax(at: start) }
        return NSNumber(value: double)
    }

    @inline(__always)
    private static func isDigit(_ byte: UInt8) -> Bool { byte &- Byte.zero < 10 }

    /// Moves the cursor past spaces, tabs, line feeds and carriage returns.
    @inline(__always)
    private mutating func skipWhitespace() {
        while index < end {
            switch base[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The ASCII bytes the grammar names.
    private enum Byte {
        static let quote = UInt8(ascii: "\"")
        static let backslash = UInt8(ascii: "\\")
        static let slash = UInt8(ascii: "/")
        static let openBrace = UInt8(ascii: "{")
        static let closeBrace = UInt8(ascii: "}")
        static let openBracket = UInt8(ascii: "[")
        static let closeBracket = UInt8(ascii: "]")
        static let colon = UInt8(ascii: ":")
        static let comma = UInt8(ascii: ",")
        static let minus = UInt8(ascii: "-")
        static let plus = UInt8(ascii: "+")
        static let dot = UInt8(ascii: ".")
        static let zero = UInt8(ascii: "0")
        static let nine = UInt8(ascii: "9")
        static let b = UInt8(ascii: "b")
        static let e = UInt8(ascii: "e")
        static let f = UInt8(ascii: "f")
        static let n = UInt8(ascii: "n")
        static let r = UInt8(ascii: "r")
        static let t = UInt8(ascii: "t")
        static let u = UInt8(ascii: "u")
    }
}
