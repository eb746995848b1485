public import Contracts
import FHIR
import Foundation

/// A pack as read from its GS1 DataMatrix (or typed): the serialized GTIN, and the lot and expiry
/// printed on it when the code carries them.
public struct ScannedPack: Sendable, Equatable {
    public var sgtin: SGTIN
    /// AI (10), when present.
    public var lot: String?
    /// AI (17) as the ledger holds an expiry: the first millisecond after the last usable day (UTC).
    public var expiryMs: Int64?
    /// AI (17) as printed (YYMMDD).
    public var expiryText: String?

    public init(sgtin: SGTIN, lot: String? = nil, expiryMs: Int64? = nil, expiryText: String? = nil) {
        (self.sgtin, self.lot, self.expiryMs, self.expiryText) = (sgtin, lot, expiryMs, expiryText)
    }
}

/// Reads GS1 element strings: the bracketed form printed under a code ("(01)…(17)…(10)…(21)…"),
/// and the raw content of a GS1 DataMatrix as a scanner sends it — an optional symbology
/// identifier (`]d2`, `]C1`, `]Q3`), application identifiers run together, each variable-length
/// field ended by the group separator (FNC1: the character U+001D, or the text `<GS>` where a
/// keyboard-wedge scanner or a person typed it). The CLI's `supply`/`rx` commands, the portal and
/// the tests all read packs through `parse`, so one string is read one way everywhere.
public enum GS1Scan {
    /// Longest text taken as one scan.
    public static let textBytesMax = 512
    /// The group separator (FNC1 inside a GS1 DataMatrix).
    static let groupSeparator: Character = "\u{1D}"

    /// Fixed-length application identifiers this reader knows, with their data lengths.
    static let fixed: [String: Int] = ["00": 18, "01": 14, "02": 14, "11": 6, "12": 6, "13": 6, "15": 6, "16": 6, "17": 6, "20": 2]
    /// Variable-length ones, with their longest data.
    static let variable: [String: Int] = ["10": 20, "21": 20, "22": 20, "240": 30, "241": 30, "30": 8, "37": 8, "90": 30, "91": 90,
                                          "92": 90, "93": 90, "94": 90, "95": 90, "96": 90, "97": 90, "98": 90, "99": 90, "710": 20,
                                          "711": 20, "712": 20, "713": 20, "714": 20, "715": 20]

    /// True when `text` looks like an element string rather than "GTIN:SERIAL" or a bare serial.
    public static func looksLikeElementString(_ text: String) -> Bool {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.hasPrefix("(") || trimmed.hasPrefix("]") || trimmed.hasPrefix("\u{1D}") || trimmed.contains("\u{1D}")
            || trimmed.contains("<GS>") || (trimmed.hasPrefix("01") && trimmed.utf8.count >= 19 && !trimmed.contains(":"))
    }

    /// The pack an element string names: GTIN (01) and serial (21) required, lot (10) and expiry
    /// (17) read when present, other known identifiers skipped. A ServiceError says what is wrong
    /// and where.
    public static func parse(_ text: String) throws(ServiceError) -> ScannedPack {
        var input = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !input.isEmpty else { throw ServiceError("the scan is empty: scan the pack's DataMatrix, or type its GTIN and serial") }
        guard input.utf8.count <= textBytesMax else { throw ServiceError("the scan is longer than \(textBytesMax) bytes") }
        input = input.replacingOccurrences(of: "<GS>", with: "\u{1D}")
        let fields: [(String, String)]
        if input.hasPrefix("(") { fields = try bracketed(input) } else { fields = try raw(input) }
        var gtin: String?, serial: String?, lot: String?, expiry: String?
        for (ai, value) in fields {
            switch ai {
            case "01":
                guard GS1.isGTIN(value) else {
                    throw ServiceError("GTIN (01) “\(value.prefix(20))” has a wrong check digit: the code was misread or is not genuine")
                }
                gtin = value
            case "21": serial = value
            case "10": lot = value
            case "17": expiry = value
            default: break
            }
        }
        guard let gtin else { throw ServiceError("the scan has no GTIN (01): a pack's DataMatrix starts (01) and 14 digits") }
        guard let serial else { throw ServiceError("the scan has no serial number (21): only serialized packs can be verified") }
        guard GS1.isSerial(serial) else {
            throw ServiceError("serial (21) “\(serial.prefix(24))” is not one this ledger records: 1–\(GS1.serialBytesMax) letters, digits, '-', '.' or '_'")
        }
        if let lot, !GS1.isSerial(lot, maxBytes: GS1.lotBytesMax) {
            throw ServiceError("lot (10) “\(lot.prefix(24))” is not one this ledger records: 1–\(GS1.lotBytesMax) letters, digits, '-', '.' or '_'")
        }
        var pack = ScannedPack(sgtin: SGTIN(gtin: gtin, serial: serial), lot: lot)
        if let expiry {
            pack.expiryMs = try expiryMs(expiry)
            pack.expiryText = expiry
        }
        return pack
    }

    /// AI (17), YYMMDD, as the first millisecond after its last usable day (UTC). Years are 2000–2099;
    /// day 00 is the month's last day (GS1 General Specifications §3.4.6).
    public static func expiryMs(_ yymmdd: String) throws(ServiceError) -> Int64 {
        let digits = Array(yymmdd.utf8)
        guard digits.count == 6, digits.allSatisfy({ (48...57).contains($0) }),
              let month = Int(yymmdd.dropFirst(2).prefix(2)), let day = Int(yymmdd.suffix(2)), let year = Int(yymmdd.prefix(2)).map({ 2000 + $0 }),
              (1...12).contains(month) else {
            throw ServiceError("expiry (17) “\(yymmdd.prefix(12))” is not a date YYMMDD")
        }
        let monthDays = [31, (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard day <= monthDays else { throw ServiceError("expiry (17) “\(yymmdd)” is not a date: that month has \(monthDays) days") }
        let two = { (n: Int) in n < 10 ? "0\(n)" : "\(n)" }
        let text = "\(year)-\(two(month))-\(two(day == 0 ? monthDays : day))"
        guard let start = FHIRDateTime.milliseconds(text) else { throw ServiceError("expiry (17) “\(yymmdd)” is not a date YYMMDD") }
        return start + SupplyCLI.dayMs
    }

    /// "(01)…(21)…": each AI in brackets, its data up to the next bracket.
    static func bracketed(_ text: String) throws(ServiceError) -> [(String, String)] {
        var fields: [(String, String)] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            guard rest.first == "(", let close = rest.firstIndex(of: ")") else {
                throw ServiceError("“\(rest.prefix(24))”: expected an application identifier in brackets, like (01)")
            }
            let ai = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            let end = rest.firstIndex(of: "(") ?? rest.endIndex
            let value = String(rest[..<end]).trimmingCharacters(in: .whitespaces)
            rest = rest[end...]
            try check(ai, value, fields)
            fields.append((ai, value))
        }
        return fields
    }

    /// The raw content of a GS1 DataMatrix: AIs run together, variable fields ended by the group separator.
    static func raw(_ text: String) throws(ServiceError) -> [(String, String)] {
        var chars = Array(text)
        for identifier in ["]d2", "]C1", "]Q3", "]e0"] where text.hasPrefix(identifier) { chars.removeFirst(3) }
        guard !chars.contains(where: { $0 == "(" || $0 == ")" }) else {
            throw ServiceError("the scan mixes bracketed identifiers with raw data: give either (01)…(21)… or the code's raw content")
        }
        var fields: [(String, String)] = []
        var index = 0
        while index < chars.count {
            if chars[index] == groupSeparator { index += 1; continue }
            let position = index + 1
            guard let found = identifier(in: chars, at: index) else {
                throw ServiceError("character \(position): “\(String(chars[index..<min(chars.count, index + 4)]))” does not start an application identifier this reader knows (01, 10, 17, 21, …)")
            }
            let (ai, length) = found
            index += ai.count
            let value: String
            if let length {
                guard index + length <= chars.count else {
                    throw ServiceError("(\(ai)) at character \(position) needs \(length) characters, the scan has \(chars.count - index) left")
                }
                value = String(chars[index..<(index + length)])
                index += length
            } else {
                let end = chars[index...].firstIndex(of: groupSeparator) ?? chars.count
                value = String(chars[index..<end])
                index = end
            }
            try check(ai, value, fields)
            fields.append((ai, value))
        }
        return fields
    }

    /// The known AI at `index` and its fixed length (nil: variable).
    static func identifier(in chars: [Character], at index: Int) -> (String, Int?)? {
        for count in [2, 3] where index + count <= chars.count {
            let ai = String(chars[index..<(index + count)])
            if let length = fixed[ai] { return (ai, length) }
            if variable[ai] != nil { return (ai, nil) }
        }
        return nil
    }

    /// The data of one AI: the right length and characters, not given twice.
    static func check(_ ai: String, _ value: String, _ fields: [(String, String)]) throws(ServiceError) {
        guard fixed[ai] != nil || variable[ai] != nil else {
            throw ServiceError("(\(ai.prefix(6))) is not an application identifier this reader knows (01, 10, 17, 21, …)")
        }
        guard !fields.contains(where: { $0.0 == ai }) else { throw ServiceError("(\(ai)) appears twice in the scan") }
        if let length = fixed[ai] {
            guard value.utf8.count == length, value.utf8.allSatisfy({ (48...57).contains($0) }) else {
                throw ServiceError("(\(ai)) must be \(length) digits, not “\(value.prefix(24))”")
            }
        } else if let longest = variable[ai] {
            guard !value.isEmpty else { throw ServiceError("(\(ai)) is empty") }
            guard value.utf8.count <= longest else {
                throw ServiceError("(\(ai)) is at most \(longest) characters, not \(value.utf8.count): a group separator may be missing after it")
            }
            guard value.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value < 0x7F }) else {
                throw ServiceError("(\(ai)) “\(value.prefix(24))” has characters a GS1 code cannot carry")
            }
        }
    }
}
