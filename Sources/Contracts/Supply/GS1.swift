public import LedgerCore

/// True when `digits` is all ASCII digits (at least 2) and its last digit is the GS1 mod-10 check
/// digit of the others (GTIN-8/12/13/14, SSCC-18, GLN …): weights 3,1,3,… from the right.
public func gs1CheckDigitValid(_ digits: String) -> Bool {
    let bytes = Array(digits.utf8)
    guard bytes.count >= 2, bytes.allSatisfy({ (48...57).contains($0) }) else { return false }
    var sum = 0
    for (offset, byte) in bytes.dropLast().reversed().enumerated() {
        sum += Int(byte - 48) * (offset % 2 == 0 ? 3 : 1)
    }
    return Int(bytes[bytes.count - 1] - 48) == (10 - sum % 10) % 10
}

/// GS1 identifier rules used by the supply and prescription contracts.
public enum GS1 {
    /// Digits in a GTIN-14.
    public static let gtinDigits = 14
    /// Digits in an SSCC.
    public static let ssccDigits = 18
    /// Longest serial number, GS1 AI (21).
    public static let serialBytesMax = 20
    /// Longest lot number, GS1 AI (10).
    public static let lotBytesMax = 20

    /// A GTIN-14 with a valid check digit.
    public static func isGTIN(_ s: String) -> Bool { s.utf8.count == gtinDigits && gs1CheckDigitValid(s) }

    /// An SSCC-18 with a valid check digit.
    public static func isSSCC(_ s: String) -> Bool { s.utf8.count == ssccDigits && gs1CheckDigitValid(s) }

    /// A serial (or lot) of 1…`maxBytes` characters from the subset of the GS1 AI(21) charset the
    /// ledger accepts: ASCII letters, digits, '-', '.', '_'. (No '/', so it is safe in state keys.)
    public static func isSerial(_ s: String, maxBytes: Int = serialBytesMax) -> Bool {
        let bytes = Array(s.utf8)
        guard !bytes.isEmpty, bytes.count <= maxBytes else { return false }
        return bytes.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 46 || $0 == 95 }
    }
}

/// A serialized GS1 trade item: GTIN + serial number (SGTIN). Ordered by GTIN, then serial.
public struct SGTIN: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let gtin: String
    public let serial: String

    public init(gtin: String, serial: String) { (self.gtin, self.serial) = (gtin, serial) }

    /// GS1 element string form, e.g. "(01)00312345678906(21)A1".
    public var description: String { "(01)\(gtin)(21)\(serial)" }

    public static func < (lhs: SGTIN, rhs: SGTIN) -> Bool { (lhs.gtin, lhs.serial) < (rhs.gtin, rhs.serial) }
}

/// A unit argument is the map `{gtin, serial}`, its stored form too (in a case's units, a fill's
/// units, a verification record). Decoding validates both, stored or not.
extension SGTIN: Codable, CanonicalValidated {
    public func validate() throws(Rejection) {
        try GS1.checkGTIN(gtin, CodingKeys.gtin)
        try GS1.checkSerial(serial, CodingKeys.serial)
    }
}

extension GS1 {
    /// A GTIN-14 argument: a string of at most 32 bytes (`.badArguments`) with a valid check digit (`.invalidGTIN`).
    static func checkGTIN(_ gtin: String, _ key: some CodingKey) throws(Rejection) {
        try Check.text(gtin, key, maxBytes: 32)
        guard isGTIN(gtin) else { throw Rejection(.invalidGTIN, "“\(gtin)” is not a GTIN-14 with a valid check digit") }
    }

    /// An SSCC-18 argument (`.invalidSSCC`).
    static func checkSSCC(_ sscc: String, _ key: some CodingKey) throws(Rejection) {
        try Check.text(sscc, key, maxBytes: 32)
        guard isSSCC(sscc) else { throw Rejection(.invalidSSCC, "“\(sscc)” is not an SSCC-18 with a valid check digit") }
    }

    /// A serial argument (`.invalidSerial`).
    static func checkSerial(_ serial: String, _ key: some CodingKey) throws(Rejection) {
        try Check.text(serial, key, maxBytes: 64)
        _ = try SupplyStore.serial(serial)
    }

    /// A lot argument (`.invalidLot`).
    static func checkLot(_ lot: String?, _ key: some CodingKey) throws(Rejection) {
        guard let lot else { return }
        try Check.text(lot, key, maxBytes: 64)
        _ = try SupplyStore.lotNumber(lot)
    }
}
