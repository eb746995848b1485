import Foundation

/// Hand-written scanners for the formats of FHIR R4's string primitives. Each accepts exactly the
/// strings its StructureDefinition regex accepts (as `FHIRValidator` runs them: anchored at both ends,
/// `\s` being Java's six ASCII whitespace characters), without a regex engine: ICU's costs microseconds
/// per value and bridges every string to UTF-16. `FHIRValidator.primitivePattern(_:)` gives each regex;
/// `PrimitiveFormatTests` compares the two on tricky inputs and on random ones.
///
/// A scanner is chosen by the exact regex text of the generated table (`FHIRPrimitiveFormat(pattern:)`),
/// so a table regenerated with a different regex falls back to running that regex.
enum FHIRPrimitiveFormat: Sendable, Equatable {
    /// `[ \r\n\t\S]+` (string, markdown): not empty, no vertical tab or form feed.
    case text
    /// `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`: groups of four base64 characters, whitespace only between groups.
    case base64
    /// `\S*` (uri, url, canonical): no whitespace (empty allowed).
    case noWhitespace
    /// `[^\s]+(\s[^\s]+)*` (code): not empty, single whitespace characters between non-whitespace runs.
    case code
    /// `[A-Za-z0-9\-\.]{1,64}`.
    case id
    /// `YYYY(-MM(-DD)?)?`, year not 0000.
    case date
    /// A date, or a full date with `Thh:mm:ss(.f+)?` and a zone.
    case dateTime
    /// A full date, `Thh:mm:ss(.f+)?` and a zone.
    case instant
    /// `hh:mm:ss(.f+)?`.
    case time
    /// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`.
    case oid
    /// `urn:uuid:` and a lowercase 8-4-4-4-12 hex UUID.
    case uuid
    /// No regex (xhtml): not empty.
    case nonEmpty

    /// The R4 regexes (the generated table's text) this file has scanners for.
    static let scanned: [String: FHIRPrimitiveFormat] = [
        #"[ \r\n\t\S]+"#: .text,
        #"(\s*([0-9a-zA-Z\+/=]){4}\s*)+"#: .base64,
        #"\S*"#: .noWhitespace,
        #"[^\s]+(\s[^\s]+)*"#: .code,
        #"[A-Za-z0-9\-\.]{1,64}"#: .id,
        #"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"#: .date,
        #"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"#: .dateTime,
        #"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"#: .instant,
        #"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"#: .time,
        #"urn:oid:[0-2](\.(0|[1-9][0-9]*))+"#: .oid,
        #"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"#: .uuid,
        "": .nonEmpty,
    ]

    /// The scanner for the table's regex `pattern`, or nil when there is none (the regex is run instead).
    init?(pattern: String) {
        guard let format = Self.scanned[pattern] else { return nil }
        self = format
    }

    /// Whether `text` has this format.
    func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { matches(utf8: $0) }
    }

    func matches(utf8 b: UnsafeBufferPointer<UInt8>) -> Bool {
        switch self {
        case .text:
            return !b.isEmpty && !b.contains { $0 == 0x0B || $0 == 0x0C }
        case .base64:
            var count = 0
            for byte in b {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                     UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
                    count += 1
                default:
                    guard Self.isSpace(byte), count % 4 == 0 else { return false }
                }
            }
            return count > 0 && count % 4 == 0
        case .noWhitespace:
            return !b.contains(where: Self.isSpace)
        case .code:
            // Bytes of multi-byte UTF-8 sequences are never ASCII whitespace, so bytes stand for characters here.
            guard let first = b.first, let last = b.last, !Self.isSpace(first), !Self.isSpace(last) else { return false }
            var previousSpace = false
            for byte in b {
                let space = Self.isSpace(byte)
                if space, previousSpace { return false }
                previousSpace = space
            }
            return true
        case .id:
            return (1...64).contains(b.count) && b.allSatisfy { byte in
                Self.isDigit(byte) || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            }
        case .date:
            return b.count >= 4 && Self.date(b, 0) == b.count
        case .dateTime:
            guard b.count >= 4, let end = Self.date(b, 0) else { return false }
            if end == b.count { return true }
            guard end == 10, b[10] == UInt8(ascii: "T") else { return false }
            return Self.timeAndZone(b, 11, zone: true)
        case .instant:
            guard b.count > 10, Self.date(b, 0) == 10, b[10] == UInt8(ascii: "T") else { return false }
            return Self.timeAndZone(b, 11, zone: true)
        case .time:
            return Self.timeAndZone(b, 0, zone: false)
        case .oid:
            guard Self.hasPrefix(b, "urn:oid:"), b.count > 8, (UInt8(ascii: "0")...UInt8(ascii: "2")).contains(b[8]) else { return false }
            var i = 9
            guard i < b.count else { return false }   // at least one `.component`
            while i < b.count {
                guard b[i] == UInt8(ascii: "."), i + 1 < b.count, Self.isDigit(b[i + 1]) else { return false }
                let start = i + 1
                i = start
                while i < b.count, Self.isDigit(b[i]) { i += 1 }
                if b[start] == UInt8(ascii: "0"), i - start > 1 { return false }   // `0` or no leading zero
            }
            return true
        case .uuid:
            guard b.count == 45, Self.hasPrefix(b, "urn:uuid:") else { return false }
            for i in 9..<45 {
                switch i - 9 {
                case 8, 13, 18, 23: guard b[i] == UInt8(ascii: "-") else { return false }
                default: guard Self.isDigit(b[i]) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(b[i]) else { return false }
                }
            }
            return true
        case .nonEmpty:
            return !b.isEmpty
        }
    }

    /// Java's `\s`: space, tab, newline, vertical tab, form feed, carriage return.
    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }

    static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    static func hasPrefix(_ b: UnsafeBufferPointer<UInt8>, _ prefix: StaticString) -> Bool {
        guard b.count >= prefix.utf8CodeUnitCount else { return false }
        let p = prefix.utf8Start
        for i in 0..<prefix.utf8CodeUnitCount where b[i] != p[i] { return false }
        return true
    }

    /// The two digits at `i` as a number, or nil.
    static func twoDigits(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
        guard i + 1 < b.count, isDigit(b[i]), isDigit(b[i + 1]) else { return nil }
        return Int(b[i] - 48) * 10 + Int(b[i + 1] - 48)
    }

    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD` at `i` (year not 0000, month 01–12, day 01–31): where it ends
    /// (the longest of them; a shorter one is only a match when nothing follows it), or nil.
    static func date(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
        guard let high = twoDigits(b, i), let low = twoDigits(b, i + 2), high + low > 0 else { return nil }
        guard i + 4 < b.count, b[i + 4] == UInt8(ascii: "-") else { return i + 4 }
        guard let month = twoDigits(b, i + 5), (1...12).contains(month) else { return nil }
        guard i + 7 < b.count, b[i + 7] == UInt8(ascii: "-") else { return i + 7 }
        guard let day = twoDigits(b, i + 8), (1...31).contains(day) else { return nil }
        return i + 10
    }

    /// `hh:mm:ss(.f+)?` from `i` to the end, followed by `Z` or `±hh:mm` (00:00–13:59, 14:00) when `zone`.
    static func timeAndZone(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, zone: Bool) -> Bool {
        var i = start
        guard let hour = twoDigits(b, i), hour <= 23, i + 2 < b.count, b[i + 2] == UInt8(ascii: ":"),
              let minute = twoDigits(b, i + 3), minute <= 59, i + 5 < b.count, b[i + 5] == UInt8(ascii: ":"),
              let second = twoDigits(b, i + 6), second <= 60 else { return false }
        i += 8
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let digits = i
            while i < b.count, isDigit(b[i]) { i += 1 }
            guard i > digits else { return false }
        }
        guard zone else { return i == b.count }
        guard i < b.count else { return false }
        if b[i] == UInt8(ascii: "Z") { return i + 1 == b.count }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), b.count == i + 6, let hours = twoDigits(b, i + 1),
              b[i + 3] == UInt8(ascii: ":"), let minutes = twoDigits(b, i + 4) else { return false }
        return (hours <= 13 && minutes <= 59) || (hours == 14 && minutes == 0)
    }
}
