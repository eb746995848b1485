import Foundation

/// How plain search values are written in the index so that string order is value order, and
/// how a stored value is tested against a search value with a prefix (FHIR R4 §3.1.1.5.6).
///
/// - date: `lo|hi`, the half-open UTC interval the stored value covers (a `1990` covers the
///   year; a Period with no end reaches `SearchValues.openEnd`); and, under the parameter's
///   `name>` row, `hi|lo`, so that searches on the end are index ranges too.
/// - number: `SortableNumber`; quantity: its number, then system, code and unit (`separator` between).
/// - composite: the first component's token, `$`, then the second's value as above.
public enum SearchValues {
    /// The lower bound of a date interval open to the past.
    public static let openStart = "0000-00-00T00:00:00Z"
    /// The upper bound of a date interval open to the future.
    public static let openEnd = "9999-99-99T99:99:99Z"
    /// The least string after every string that begins with `prefix` (its last character
    /// incremented): the end of a prefix's index range.
    public static func prefixEnd(_ prefix: String) -> String {
        guard let last = prefix.unicodeScalars.last, let next = Unicode.Scalar(last.value + 1) ?? Unicode.Scalar(0xE000) else { return prefix }
        return String(prefix.unicodeScalars.dropLast()) + String(next)
    }

    /// The row name holding each date interval by its end.
    public static func endRow(_ parameter: String) -> String { parameter + ">" }

    /// Date intervals at most this long (an instant, a second, a day) have no end row: a search
    /// on ends finds them among the starts from this much earlier (`startsBefore`). Most stored
    /// dates are such, so most of the end rows an import would write are not written.
    public static let shortIntervalSeconds: Int64 = 86_400

    /// Whether [lo, hi) (instants as the index writes them) is at most `shortIntervalSeconds` long.
    public static func isShort(lo: String, hi: String) -> Bool {
        guard let start = FHIRDateTime.seconds(lo)?.lo, let end = FHIRDateTime.seconds(hi)?.lo else { return false }
        return end - start <= shortIntervalSeconds
    }

    /// The instant `shortIntervalSeconds` before `instant`, or nil when it is not one (an open end).
    public static func startsBefore(_ instant: String) -> String? {
        FHIRDateTime.seconds(instant).map { FHIRDateTime.format(seconds: $0.lo - shortIntervalSeconds) }
    }

    /// The interval of a FHIR date, dateTime or instant, or nil.
    public static func interval(_ text: String) -> (lo: String, hi: String)? {
        guard let range = FHIRDateTime.range(text) else { return nil }
        return (range.lo, range.hi.utf8.count == 20 ? range.hi : openEnd)
    }

    /// The interval of a search value: a FHIR date, dateTime or instant, or a time given to the
    /// minute or the hour (`2013-01-14T10:00`, `2013-01-14T10`, a zone after it or UTC), which
    /// covers that minute or hour (R4 §3.1.1.4.2: a value's precision is its range).
    public static func searchInterval(_ text: String) -> (lo: String, hi: String)? {
        if let interval = interval(text) { return interval }
        let bytes = Array(text.utf8)
        guard bytes.count >= 13, bytes[10] == UInt8(ascii: "T") else { return nil }
        var zoneStart = bytes.count
        if let index = bytes[11...].firstIndex(where: { $0 == UInt8(ascii: "Z") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) { zoneStart = index }
        let time = String(decoding: bytes[11..<zoneStart], as: UTF8.self), zone = zoneStart < bytes.count ? String(decoding: bytes[zoneStart...], as: UTF8.self) : "Z"
        let seconds: Int64
        switch time.utf8.count {
        case 2: seconds = 3_600
        case 5: seconds = 60
        default: return nil
        }
        let padded = String(decoding: bytes[..<11], as: UTF8.self) + time + (seconds == 3_600 ? ":00:00" : ":00") + zone
        guard let start = interval(padded), let ms = FHIRDateTime.milliseconds(start.lo) else { return nil }
        return (start.lo, FHIRDateTime.format(Date(timeIntervalSince1970: TimeInterval(ms / 1_000 + seconds))))
    }

    /// `ap` for dates: the interval widened on each side by a tenth of its length, at least a day.
    public static func approximately(lo: String, hi: String) -> (lo: String, hi: String)? {
        guard let start = FHIRDateTime.milliseconds(lo), let stop = hi == openEnd ? start + 86_400_000 : FHIRDateTime.milliseconds(hi) else { return nil }
        let margin = max(86_400_000, (stop - start) / 10)
        return (FHIRDateTime.format(Date(timeIntervalSince1970: TimeInterval(start - margin) / 1_000)),
                FHIRDateTime.format(Date(timeIntervalSince1970: TimeInterval(stop + margin) / 1_000)))
    }

    /// The intervals of a date-like element: a date/dateTime/instant string, a Period (open ends
    /// reaching `openStart`/`openEnd`), or a Timing (its events and its bounds).
    public static func intervals(_ element: Any) -> [(lo: String, hi: String)] {
        if let text = element as? String { return interval(text).map { [$0] } ?? [] }
        guard let object = element as? [String: Any] else { return [] }
        if object["start"] != nil || object["end"] != nil {
            let start = (object["start"] as? String).flatMap(interval)
            let end = (object["end"] as? String).flatMap(interval)
            if object["start"] != nil && start == nil || object["end"] != nil && end == nil { return [] }
            return [(start?.lo ?? openStart, end?.hi ?? openEnd)]
        }
        var out: [(lo: String, hi: String)] = []
        for case let event as String in object["event"] as? [Any] ?? [] { if let one = interval(event) { out.append(one) } }
        if let bounds = (object["repeat"] as? [String: Any])?["boundsPeriod"] { out += intervals(bounds) }
        return out
    }

    /// A stored date row's interval (`lo|hi`, or `hi|lo` from the end row).
    static func storedInterval(_ row: Substring, reversed: Bool) -> (lo: Substring, hi: Substring)? {
        guard let bar = row.firstIndex(of: "|") else { return nil }
        let first = row[..<bar], second = row[row.index(after: bar)...]
        return reversed ? (second, first) : (first, second)
    }

    /// The decimal text of a JSON number (Int64 or Double as the parser gives them), or nil.
    public static func numberText(_ value: Any) -> String? {
        if value is Bool { return nil }
        if let integer = value as? Int64 { return String(integer) }
        if let integer = value as? Int { return String(integer) }
        if let double = value as? Double, double.isFinite { return "\(double)" }
        if let number = value as? NSNumber, String(cString: number.objCType) != "c" {
            return String(cString: number.objCType) == "d" ? "\(number.doubleValue)" : "\(number.int64Value)"
        }
        return nil
    }

    /// What separates a quantity row's parts: below every digit, so that a row sorts by its number
    /// first even when one number's text begins another's (5 and 5.5).
    public static let separator: Character = "\u{1F}"

    /// Quantity rows: number, system, code and unit, `separator` between them, for a Quantity (Age, Duration, Count, Distance,
    /// SimpleQuantity) or a Money (its currency as code and unit).
    public static func quantity(_ element: Any) -> String? {
        guard let object = element as? [String: Any], let raw = object["value"], let text = numberText(raw),
              let number = SortableNumber.encode(text) else { return nil }
        let currency = object["currency"] as? String
        let system = object["system"] as? String ?? (currency != nil ? "urn:iso:std:iso:4217" : "")
        let code = object["code"] as? String ?? currency ?? ""
        let unit = object["unit"] as? String ?? currency ?? ""
        let bar = String(separator), byte = bar.utf8.first!
        func part(_ text: String) -> String {   // a separator inside a part would end it early
            text.utf8.contains(byte) ? String(decoding: text.utf8.map { $0 == byte ? UInt8(ascii: " ") : $0 }, as: UTF8.self) : text
        }
        return part(number) + bar + part(system) + bar + part(code) + bar + part(unit)
    }
}

/// Decimals written so that string order is numeric order: zero is `5`; a positive 0.d₁d₂… × 10ᴱ
/// is `6`, E + 500 in three digits, then the digits; a negative one `4`, 499 − E in three digits,
/// the nines' complement of the digits, then `~` (so that a shorter magnitude sorts above a longer
/// one it begins). Exponents are clamped to ±499.
public enum SortableNumber {
    /// The parts of a decimal literal (`-12.340e-5`): sign, significant digits, and E with the
    /// value 0.digits × 10ᴱ; also the exponent of its last written digit (its precision). Nil if not a number.
    public static func parse(_ text: String) -> (negative: Bool, digits: [UInt8], exponent: Int, precision: Int)? {
        var bytes = Substring(text).utf8[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { negative = bytes.first == UInt8(ascii: "-"); bytes = bytes.dropFirst() }
        var digits: [UInt8] = [], fraction = 0, seenPoint = false, seenDigit = false
        while let byte = bytes.first, byte != UInt8(ascii: "e"), byte != UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if byte == UInt8(ascii: ".") {
                guard !seenPoint else { return nil }
                seenPoint = true
            } else if (48...57).contains(byte) {
                digits.append(byte - 48)
                seenDigit = true
                if seenPoint { fraction += 1 }
            } else {
                return nil
            }
        }
        guard seenDigit, digits.count <= 64 else { return nil }
        var exponent = 0
        if !bytes.isEmpty {
            bytes = bytes.dropFirst()
            guard let value = Int(String(decoding: bytes, as: UTF8.self)), abs(value) < 10_000 else { return nil }
            exponent = value
        }
        var scale = exponent - fraction
        let precision = scale
        while digits.first == 0 { digits.removeFirst() }
        while digits.last == 0 { digits.removeLast(); scale += 1 }
        return (negative && !digits.isEmpty, digits, scale + digits.count, precision)
    }

    /// The sortable text of a decimal literal, or nil if it is not one.
    public static func encode(_ text: String) -> String? {
        guard let parts = parse(text) else { return nil }
        return encode(negative: parts.negative, digits: parts.digits, exponent: parts.exponent)
    }

    static func encode(negative: Bool, digits: [UInt8], exponent: Int) -> String {
        guard !digits.isEmpty else { return "5" }
        let biased = min(999, max(0, exponent + 500))
        func three(_ value: Int) -> String { String(repeating: "0", count: 3 - String(value).count) + String(value) }
        if negative {
            return "4" + three(999 - biased) + String(decoding: digits.map { 48 + 9 - $0 }, as: UTF8.self) + "~"
        }
        return "6" + three(biased) + String(decoding: digits.map { 48 + $0 }, as: UTF8.self)
    }

    /// The sortable texts of `text` ± half a unit of its last written digit: the range an
    /// equality search on it covers (`100` is [99.5, 100.5)).
    public static func precisionRange(_ text: String) -> (lo: String, hi: String)? {
        guard let parts = parse(text), let value = Decimal(string: text.lowercased().replacingOccurrences(of: "+", with: "")) else { return nil }
        let half = Decimal(sign: .plus, exponent: parts.precision, significand: 5) / 10
        guard let lo = encode((value - half).description), let hi = encode((value + half).description) else { return nil }
        return (lo, hi)
    }

    /// The sortable texts of `text` ± 10%: `ap`.
    public static func approximateRange(_ text: String) -> (lo: String, hi: String)? {
        guard let value = Decimal(string: text.lowercased().replacingOccurrences(of: "+", with: "")) else { return nil }
        var tenth = value / 10
        if tenth < 0 { tenth = -tenth }
        guard let lo = encode((value - tenth).description), let hi = encode((value + tenth).description) else { return nil }
        return (lo, hi)
    }
}

/// A search value answered from plain index rows: the rows of a few index ranges (`scans`),
/// each tested exactly (`test`), since a range of rows is only a superset of the matches.
public struct RowMatch: Sendable, Equatable {
    /// Rows of `param` in [from, to) (`to` nil: unbounded); `reversed`: date rows by their end (`hi|lo`).
    public struct Scan: Sendable, Equatable {
        public let param: String
        public let from: String
        public let to: String?
        public let reversed: Bool
    }

    public let scans: [Scan]
    public let test: RowTest
}

/// The exact test of one stored row against a search value.
public indirect enum RowTest: Sendable, Equatable {
    /// Any row the scans found.
    case any
    /// The row begins with this text (`system|` tokens, `:below` URIs).
    case prefix(String)
    /// The row is exactly this text.
    case exact(String)
    /// A stored date interval [lo, hi) against the search interval, by prefix (R4 §3.1.1.5.6's table).
    case date(prefix: String, lo: String, hi: String)
    /// A stored sortable number against encoded bounds: eq/ap in [lo, hi); gt, lt, ge, le against `value`.
    case number(prefix: String, lo: String, hi: String, value: String)
    /// A quantity row (number, system, code, unit): the number test, then the unit: `system|code`
    /// both given must both match; a code alone matches the code or the unit.
    case quantity(RowTest, system: String?, code: String?)
    /// A composite row (`first$second`): the first component exactly, the second by its own test.
    case composite(first: String, RowTest)

    /// Whether a stored row matches.
    public func matches(_ row: Substring, reversed: Bool = false) -> Bool {
        switch self {
        case .any: return true
        case .prefix(let text): return row.hasPrefix(text)
        case .exact(let text): return row == text
        case .date(let prefix, let slo, let shi):
            guard let stored = SearchValues.storedInterval(row, reversed: reversed) else { return false }
            let (tlo, thi) = (stored.lo, stored.hi)
            let contained = slo <= tlo && thi <= shi
            switch prefix {
            case "eq": return contained
            case "ne": return !contained
            case "gt": return thi > shi
            case "lt": return tlo < slo
            case "ge": return thi > shi || contained
            case "le": return tlo < slo || contained
            case "sa": return tlo >= shi
            case "eb": return thi <= slo
            case "ap": return tlo < shi && thi > slo
            default: return false
            }
        case .number(let prefix, let lo, let hi, let value):
            let number = row.firstIndex(of: SearchValues.separator).map { row[..<$0] } ?? row
            switch prefix {
            case "eq", "ap": return lo <= number && number < hi
            case "ne": return !(lo <= number && number < hi)
            case "gt", "sa": return number > value
            case "lt", "eb": return number < value
            case "ge": return number >= value
            case "le": return number <= value
            default: return false
            }
        case .quantity(let test, let system, let code):
            guard test.matches(row) else { return false }
            let parts = row.split(separator: SearchValues.separator, omittingEmptySubsequences: false)
            guard parts.count == 4 else { return false }
            if let system, !system.isEmpty {
                return parts[1] == system && (code == nil || parts[2] == code!)
            }
            if let code, !code.isEmpty { return parts[2] == code || parts[3] == code }
            return true
        case .composite(let first, let test):
            guard row.hasPrefix(first + "$") else { return false }
            return test.matches(row.dropFirst(first.count + 1))
        }
    }
}
