public import Crypto
import Foundation
import LedgerCore

/// The kinds of direct identifier the blind index covers.
public enum IdentifierField: String, CaseIterable, Sendable {
    case name, identifier, telecom, address
    /// Administrative gender: one whole-value token (with sex and a birth date and a ZIP code,
    /// quasi-identifying; never stored readable).
    case gender
    /// Date of birth: tokens for its year, month and day (`BlindIndexer.dateTokens`), so that a
    /// date range is searched as a union of tokens and the date is never stored readable.
    case birthDate = "birthdate"
}

/// The secret key of a node's blind index.
public struct BlindIndexKey: NodeSecretKey {
    public static let derivationLabel = "careledger/blind-index/v1"
    public static let name = "a blind index key"
    let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }
}

/// A keyed hash (HMAC-SHA256) of one normalized token: what the index stores instead of text.
public struct BlindToken: Hashable, Sendable {
    public let bytes: [UInt8]
}

/// Turns direct identifiers into blind tokens: normalized words and their prefixes (≥ 3
/// characters), each HMAC'd with the node's key and the field name.
public struct BlindIndexer: Sendable {
    /// Shortest prefix indexed (and shortest query).
    public static let prefixMin = 3
    /// Longest token kept, in characters.
    public static let tokenCharactersMax = 64
    /// Most tokens one value yields.
    public static let tokensPerValueMax = 256

    let key: BlindIndexKey
    /// HMAC-SHA256 under `key`, copied for each token: the key's pads are hashed once, not per token.
    private let keyedMAC: HMAC<SHA256>
    /// Seals index values kept only to sort by (`seal`), derived from the index key.
    let sealKey: SymmetricKey

    public init(key: BlindIndexKey) {
        self.key = key
        keyedMAC = HMAC<SHA256>(key: key.key)
        sealKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: key.key, info: Array("careledger/index-seal/v1".utf8), outputByteCount: 32)
    }

    // MARK: sealed sort values

    /// What a sealed value starts with.
    public static let sealedPrefix = "sealed:"

    /// A value the index keeps only to sort by (a birth date), sealed with AES-256-GCM under a key
    /// derived from the index key: unreadable at rest, opened in memory to order search results.
    public func seal(_ text: String) -> String {
        // AES-GCM with a random nonce cannot fail for a 32-byte key and a short message.
        let box = try! AES.GCM.seal(Array(text.utf8), using: sealKey)
        return Self.sealedPrefix + box.combined!.base64EncodedString()
    }

    /// The text of a value `seal` made; nil for anything else (or a value sealed under another key).
    public func open(_ stored: String) -> String? {
        guard stored.hasPrefix(Self.sealedPrefix), let data = Data(base64Encoded: String(stored.dropFirst(Self.sealedPrefix.count))),
              let box = try? AES.GCM.SealedBox(combined: data), let plain = try? AES.GCM.open(box, using: sealKey) else { return nil }
        return String(decoding: plain, as: UTF8.self)
    }

    /// Words of a name or address: case and diacritics folded, split on anything but letters and digits.
    public static func normalize(_ text: String) -> [String] {
        foldedWords(text).map { $0.utf8.count > tokenCharactersMax ? String($0.prefix(tokenCharactersMax)) : $0 }
    }

    /// The words of a text, case and diacritics folded. ASCII (most identifiers, codes and
    /// names) is folded byte by byte; anything else through Foundation's folding, which gives the
    /// same words for ASCII but costs a string bridge per call.
    static func foldedWords(_ text: String) -> [String] {
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else {
            return text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
                .split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
        }
        var words: [String] = [], word: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): word.append(byte + 32)
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): word.append(byte)
            default:
                if !word.isEmpty { words.append(String(decoding: word, as: UTF8.self)); word.removeAll(keepingCapacity: true) }
            }
        }
        if !word.isEmpty { words.append(String(decoding: word, as: UTF8.self)) }
        return words
    }

    /// Normalized tokens for a field: telecom and identifier values become one token of their
    /// letters and digits ("MRN-00123" → "mrn00123"), names and addresses become words.
    public static func normalize(_ text: String, field: IdentifierField) -> [String] {
        let words = normalize(text)
        switch field {
        case .telecom, .identifier, .gender:
            let joined = words.joined()
            return joined.isEmpty ? [] : [String(joined.prefix(tokenCharactersMax))]
        case .name, .address: return words
        case .birthDate: return []  // dates are tokenized by `dateTokens`, never as words
        }
    }

    /// Tokens to index for a value of a search parameter (`scope`; nil: the field's own name): the
    /// field's presence token (`:missing`); each normalized word and its prefixes of ≥ 3 characters
    /// (the default match) — for identifiers, telecom and gender instead the whole normalized
    /// value only (a code is matched whole); the whole value as written (`:exact`, case- and
    /// accent-sensitive); for names and addresses the trigrams of the folded value (`:contains`).
    public func tokens(field: IdentifierField, value: String, scope: String? = nil) -> Set<BlindToken> {
        let scope = scope ?? field.rawValue
        if field == .birthDate { return Set(dateTokens(field: field, value: value, scope: scope)) }
        if let qualified = Self.qualifiedWord(value) { return [token(field, scope, qualified)] }
        var out = Set<BlindToken>()
        let words = Self.normalize(value, field: field)
        guard !words.isEmpty else { return out }
        out.insert(presenceToken(field: field, scope: scope))
        out.insert(exactValueToken(field, scope, value))
        for word in words {
            // An identifier, a telecom or a gender is a code: matched whole, never by a prefix.
            guard field == .name || field == .address else {
                out.insert(wholeWordToken(field, scope, word))
                continue
            }
            let characters = Array(word)
            let shortest = min(Self.prefixMin, characters.count)
            for length in shortest...characters.count where out.count < Self.tokensPerValueMax {
                out.insert(token(field, scope, String(characters[0..<length])))
            }
        }
        if field == .name || field == .address {
            for gram in Self.trigrams(value) where out.count < Self.tokensPerValueMax { out.insert(token(field, scope, "\u{0}gram\u{0}" + gram)) }
        }
        return out
    }

    /// Tokens for a free text that is searched by whole words only (a token's `:text`: the
    /// display and text of codes): one per normalized word.
    public func textTokens(scope: String, value: String) -> Set<BlindToken> {
        Set(Self.normalize(value).prefix(Self.tokensPerValueMax).map { wholeWordToken(.name, scope, $0) })
    }

    /// The tokens of an extracted identifier.
    public func tokens(_ identifier: ExtractedIdentifier) -> Set<BlindToken> {
        identifier.wordsOnly ? textTokens(scope: identifier.scope ?? identifier.field.rawValue, value: identifier.value)
                             : tokens(field: identifier.field, value: identifier.value, scope: identifier.scope)
    }

    /// The token for the first word of a query (a word shorter than 3 characters matches only itself).
    /// Use `queryTokens` to match every word.
    public func queryToken(field: IdentifierField, query: String) -> BlindToken? { queryTokens(field: field, query: query).first }

    /// The tokens a query must all match, by how it matches (`scope`: the search parameter; nil:
    /// the field's own name). Empty when the query cannot be matched this way (a prefix or
    /// `:contains` query shorter than 3 characters).
    public func queryTokens(field: IdentifierField, query: String, match: BlindMatch = .prefix, scope: String? = nil) -> [BlindToken] {
        let scope = scope ?? field.rawValue
        if let qualified = Self.qualifiedWord(query) { return [token(field, scope, qualified)] }
        switch match {
        // A word shorter than 3 characters is indexed whole only, so it matches only itself; a
        // code (identifier, telecom, gender) only whole.
        case .prefix where field != .name && field != .address, .word: return Self.normalize(query, field: field).map { wholeWordToken(field, scope, $0) }
        case .prefix: return Self.normalize(query, field: field).map { token(field, scope, $0) }
        case .exact: return query.isEmpty ? [] : [exactValueToken(field, scope, query)]
        case .contains: return Self.trigrams(query).map { token(field, scope, "\u{0}gram\u{0}" + $0) }
        case .text: return Self.normalize(query).map { wholeWordToken(.name, scope, $0) }
        }
    }

    /// One whole-word token per query word (identifiers, telecom and gender: the whole normalized value).
    public func exactQueryTokens(field: IdentifierField, query: String) -> [BlindToken] { queryTokens(field: field, query: query, match: .word) }

    /// An identifier with its system (`system|value`), indexed and queried as one token, so
    /// `identifier=system|value` matches that system's identifier only — never the same value
    /// issued by another system. The value is normalized as identifiers are.
    public static func systemQualified(system: String, value: String) -> String {
        "\u{1}" + trimmed(system) + "|" + normalize(value, field: .identifier).joined()
    }

    /// An identifier with its type (`identifier:of-type=type-system|type-code|value`), one token.
    public static func typeQualified(system: String, code: String, value: String) -> String {
        "\u{3}" + trimmed(system) + "|" + code + "|" + normalize(value, field: .identifier).joined()
    }

    /// A system without the spaces around it (most have none: no Foundation call for them).
    static func trimmed(_ system: String) -> String {
        guard let first = system.unicodeScalars.first, let last = system.unicodeScalars.last,
              first.properties.isWhitespace || last.properties.isWhitespace else { return system }
        return system.trimmingCharacters(in: .whitespaces)
    }

    /// The token word of a `systemQualified` or `typeQualified` text, or nil for plain text.
    static func qualifiedWord(_ text: String) -> String? {
        guard text.count > 2 else { return nil }
        if text.hasPrefix("\u{1}") { return "\u{0}system\u{0}" + String(text.dropFirst().prefix(tokenCharactersMax * 4)) }
        if text.hasPrefix("\u{3}") { return "\u{0}type\u{0}" + String(text.dropFirst().prefix(tokenCharactersMax * 4)) }
        return nil
    }

    /// The trigrams of a value for `:contains`: case and accents folded, every run of characters
    /// other than letters and digits one space, then each 3-character window (at most 256).
    static func trigrams(_ text: String) -> [String] {
        let folded = foldedWords(text).joined(separator: " ")
        let characters = Array(folded.prefix(tokenCharactersMax * 4))
        guard characters.count >= 3 else { return [] }
        var seen = Set<String>(), out: [String] = []
        for start in 0...(characters.count - 3) where out.count < tokensPerValueMax {
            let gram = String(characters[start..<start + 3])
            if seen.insert(gram).inserted { out.append(gram) }
        }
        return out
    }

    // MARK: dates

    /// Years an open-ended date range reaches: `birthdate=lt1950` covers 1800 to 1949. A date
    /// outside them is still found by `eq` and by ranges that name its years.
    public static let dateYears = 1800..<2200

    /// Tokens for a date as written: a day ("YYYY-MM-DD", a time after it ignored) gets its year,
    /// its month and its day, each a keyed token (so that ranges of days are unions of a few
    /// tokens); a month ("YYYY-MM") or a year ("YYYY") — an interval, not a day — gets tokens of
    /// its own precision (`PM`, `PMY`, `PY`), never a day's, so that it is matched as the interval
    /// it is. Plus the field's presence token. Empty for text that is not a date.
    public func dateTokens(field: IdentifierField, value: String, scope: String? = nil) -> [BlindToken] {
        let scope = scope ?? field.rawValue
        let bytes = Array(value.utf8)
        if bytes.count == 4 || bytes.count == 7, let day = CivilDay(prefixOf: value + (bytes.count == 4 ? "-01-01" : "-01")) {
            if bytes.count == 4 { return [presenceToken(field: field, scope: scope), dateToken(field, scope, .wholeYear, day)] }
            return [presenceToken(field: field, scope: scope), dateToken(field, scope, .wholeMonth, day), dateToken(field, scope, .wholeMonthInYear, day)]
        }
        guard let day = CivilDay(prefixOf: value) else { return [] }
        return [presenceToken(field: field, scope: scope), dateToken(field, scope, .year, day), dateToken(field, scope, .month, day),
                dateToken(field, scope, .day, day)]
    }

    /// The tokens of every stored date — day, month or year — that matches the search interval
    /// [`lo`, `hi`) (instants "YYYY-MM-DDThh:mm:ssZ") under a FHIR prefix, by R4 §3.1.1.5.6's
    /// table (`eq` inside, `gt` ending after, `sa` starting after, …; `ap` with the interval
    /// already widened by the caller): for each precision the matching days, months and years
    /// are runs of units, each run a few tokens. Bounded by `dateYears`; about 1,100 tokens at most.
    public func dateQueryTokens(field: IdentifierField, prefix: String, lo: String, hi: String, scope: String? = nil) -> [BlindToken] {
        let scope = scope ?? field.rawValue
        var out: [BlindToken] = []
        for precision in [DatePrecision.day, .wholeMonth, .wholeYear] {
            let unit = DateUnit(precision)
            let (l, h) = (unit.bounds(lo), unit.bounds(hi))
            let (low, high) = (unit.index(of: CivilDay(year: Self.dateYears.lowerBound, month: 1, day: 1)),
                               unit.index(of: CivilDay(year: Self.dateYears.upperBound, month: 1, day: 1)))
            let eq = (l.up, h.down)
            var runs: [(Int, Int)]
            switch prefix {
            case "eq", "ap": runs = [eq]
            case "ne": runs = [(low, l.up), (h.down, high)]
            case "gt": runs = [(h.down, high)]
            case "lt": runs = [(low, l.up)]
            case "ge": runs = [(h.down, high), eq]
            case "le": runs = [(low, l.up), eq]
            case "sa": runs = [(h.up, high)]
            case "eb": runs = [(low, l.down)]
            default: runs = []
            }
            if prefix == "ap" { runs = [(l.down, h.up)] }
            // Merge and clamp the runs, then turn each into tokens.
            var merged: [(Int, Int)] = []
            for (start, end) in runs.map({ (max($0.0, low), min($0.1, high)) }).filter({ $0.0 < $0.1 }).sorted(by: { $0.0 < $1.0 }) {
                if let last = merged.last, start <= last.1 { merged[merged.count - 1].1 = max(last.1, end) } else { merged.append((start, end)) }
            }
            for (start, end) in merged {
                switch precision {
                case .day: out += dateRangeTokens(field: field, from: unit.day(start).text, to: unit.day(end).text, scope: scope)
                case .wholeMonth:
                    var month = start
                    while month < end {
                        if month % 12 == 0, month + 12 <= end {
                            out.append(dateToken(field, scope, .wholeMonthInYear, unit.day(month)))
                            month += 12
                        } else {
                            out.append(dateToken(field, scope, .wholeMonth, unit.day(month)))
                            month += 1
                        }
                    }
                default: for year in start..<end { out.append(dateToken(field, scope, .wholeYear, unit.day(year))) }
                }
            }
        }
        return out
    }

    /// The fewest year, month and day tokens whose dates are exactly those of the half-open range
    /// of instants [`from`, `to`) ("YYYY-MM-DDThh:mm:ssZ"; nil is open, bounded by `dateYears`):
    /// a date counts from its midnight, so it matches when `from` ≤ its midnight < `to`. At most
    /// about 480 tokens (one per year of `dateYears`, 22 months, 60 days).
    public func dateRangeTokens(field: IdentifierField, from: String?, to: String?, scope: String? = nil) -> [BlindToken] {
        let scope = scope ?? field.rawValue
        let floor = CivilDay(year: Self.dateYears.lowerBound, month: 1, day: 1), ceiling = CivilDay(year: Self.dateYears.upperBound, month: 1, day: 1)
        func firstDay(_ text: String?, _ open: CivilDay) -> CivilDay? {
            guard let text else { return open }
            guard let day = CivilDay(prefixOf: text) else { return nil }
            return Self.isMidnight(text) ? day : day.adding(days: 1)
        }
        guard var day = firstDay(from, floor), let end = firstDay(to, ceiling) else { return [] }
        var out: [BlindToken] = []
        while day < end {
            if day.month == 1, day.day == 1, CivilDay(year: day.year + 1, month: 1, day: 1) <= end {
                out.append(dateToken(field, scope, .year, day))
                day = CivilDay(year: day.year + 1, month: 1, day: 1)
            } else if day.day == 1, day.nextMonth <= end {
                out.append(dateToken(field, scope, .month, day))
                day = day.nextMonth
            } else {
                out.append(dateToken(field, scope, .day, day))
                day = day.adding(days: 1)
            }
        }
        return out
    }

    /// Y, M, D: the year, month and day of a stored day; PY, PM, PMY: a stored year, a stored month, and the year of a stored month.
    enum DatePrecision: String { case year = "Y", month = "M", day = "D", wholeYear = "PY", wholeMonth = "PM", wholeMonthInYear = "PMY" }

    /// Days, months or years numbered in order, and where an instant falls among them.
    struct DateUnit {
        let precision: DatePrecision
        init(_ precision: DatePrecision) { self.precision = precision }

        func index(of day: CivilDay) -> Int {
            switch precision {
            case .wholeYear: return day.year
            case .wholeMonth: return day.year * 12 + day.month - 1
            default: return day.ordinal
            }
        }

        func day(_ index: Int) -> CivilDay {
            switch precision {
            case .wholeYear: return CivilDay(year: index, month: 1, day: 1)
            case .wholeMonth: return CivilDay(year: index / 12, month: index % 12 + 1, day: 1)
            default: return CivilDay(ordinal: index)
            }
        }

        /// For an instant X: `down`, the last unit starting at or before X; `up`, the first starting at or after it.
        func bounds(_ instant: String) -> (down: Int, up: Int) {
            guard let day = CivilDay(prefixOf: instant) else {
                // The open ends of an interval.
                return instant.hasPrefix("0000") ? (Int.min / 2, Int.min / 2) : (Int.max / 2, Int.max / 2)
            }
            let down = index(of: day)
            let atStart = BlindIndexer.isMidnight(instant) && (precision == .day || day.day == 1 && (precision == .wholeMonth || day.month == 1))
            return (down, atStart ? down : down + 1)
        }
    }

    func dateToken(_ field: IdentifierField, _ scope: String, _ precision: DatePrecision, _ day: CivilDay) -> BlindToken {
        let text: String
        switch precision {
        case .year, .wholeYear, .wholeMonthInYear: text = day.yearText
        case .month, .wholeMonth: text = day.yearText + "-" + CivilDay.two(day.month)
        case .day: text = day.text
        }
        return token(field, scope, "\u{0}date\u{0}" + precision.rawValue + "\u{0}" + text)
    }

    /// Whether an instant text's time of day is 00:00:00 (or it has none).
    static func isMidnight(_ text: String) -> Bool {
        let time = text.dropFirst(10)
        return time.isEmpty || time.drop(while: { $0 == "T" }).allSatisfy { $0 == "0" || $0 == ":" || $0 == "Z" || $0 == "." }
    }

    /// The token every record with at least one word in `field` for `scope` carries (`:missing`); reveals presence only.
    public func presenceToken(field: IdentifierField, scope: String? = nil) -> BlindToken { token(field, scope ?? field.rawValue, "\u{0}present") }

    /// A whole word, domain-separated from prefixes (a prefix token cannot equal it).
    func wholeWordToken(_ field: IdentifierField, _ scope: String, _ word: String) -> BlindToken { token(field, scope, "\u{0}word\u{0}" + word) }

    /// The whole value as written, for `:exact`.
    func exactValueToken(_ field: IdentifierField, _ scope: String, _ value: String) -> BlindToken {
        token(field, scope, "\u{0}exact\u{0}" + String(value.prefix(Self.tokenCharactersMax * 4)))
    }

    /// HMAC-SHA256 under the index key of the field, the search parameter (scope) and the word.
    func token(_ field: IdentifierField, _ scope: String, _ word: String) -> BlindToken {
        var message = Array("careledger/blind/v2".utf8)
        message.append(0)
        message += Array(field.rawValue.utf8)
        message.append(0)
        message += Array(scope.utf8)
        message.append(0)
        message += Array(word.utf8)
        var mac = keyedMAC
        mac.update(data: message)
        return BlindToken(bytes: Array(mac.finalize()))
    }
}

/// How a blind query matches.
public enum BlindMatch: Sendable, Equatable {
    /// Every query word (≥ 3 characters) begins a word of the value (the default for strings).
    case prefix
    /// Every query word is a whole word (tokens: the whole normalized value).
    case word
    /// The whole value as written, case and accents included (`:exact`).
    case exact
    /// The folded query occurs in the folded value (`:contains`; by trigrams, so ≥ 3 characters).
    case contains
    /// Every query word is a whole word of the text of a code (`:text`).
    case text
}

/// A direct identifier found in a resource: indexed only as blind tokens.
public struct ExtractedIdentifier: Sendable, Hashable {
    public let field: IdentifierField
    public let value: String
    /// The search parameter the tokens belong to (`family`, `code:text`); nil: the field's name.
    public let scope: String?
    /// Indexed by whole words only (a code's text).
    public let wordsOnly: Bool

    public init(field: IdentifierField, value: String, scope: String? = nil, wordsOnly: Bool = false) {
        (self.field, self.value, self.scope, self.wordsOnly) = (field, value, scope, wordsOnly)
    }
}

/// A non-identifying value (code, date, status) that may be indexed as is, against record ids.
public struct IndexedValue: Sendable, Equatable, Hashable {
    public let param: String
    public let value: String

    public init(param: String, value: String) { (self.param, self.value) = (param, value) }
}

/// What the index may know of a resource.
public struct ExtractedFields: Sendable, Equatable {
    public var resourceType: String
    public var identifiers: [ExtractedIdentifier]
    public var values: [IndexedValue]
    /// Values of blind-indexed parameters kept to sort by: stored sealed (`BlindIndexer.seal`).
    public var sortValues: [IndexedValue]

    public init(resourceType: String, identifiers: [ExtractedIdentifier] = [], values: [IndexedValue] = [], sortValues: [IndexedValue] = []) {
        (self.resourceType, self.identifiers, self.values, self.sortValues) = (resourceType, identifiers, values, sortValues)
    }
}

/// A day of the proleptic Gregorian calendar, for date tokens.
struct CivilDay: Comparable, Sendable {
    let year: Int, month: Int, day: Int

    init(year: Int, month: Int, day: Int) { (self.year, self.month, self.day) = (year, month, day) }

    /// The day "YYYY-MM-DD" at the start of `text`; nil if it is not a valid date.
    init?(prefixOf text: String) {
        let bytes = Array(text.utf8.prefix(10))
        guard bytes.count == 10, bytes[4] == 45, bytes[7] == 45 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), (1...12).contains(month),
              (1...Self.days(inMonth: month, of: year)).contains(day) else { return nil }
        (self.year, self.month, self.day) = (year, month, day)
    }

    static func days(inMonth month: Int, of year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    func adding(days count: Int) -> CivilDay {
        var (y, m, d) = (year, month, day + count)
        while d > Self.days(inMonth: m, of: y) {
            d -= Self.days(inMonth: m, of: y)
            (y, m) = m == 12 ? (y + 1, 1) : (y, m + 1)
        }
        return CivilDay(year: y, month: m, day: d)
    }

    /// Days since 1970-01-01.
    var ordinal: Int { CivilCalendar.daysSince1970(year: year, month: month, day: day) }

    /// The day `ordinal` days after 1970-01-01.
    init(ordinal: Int) {
        let date = CivilCalendar.date(daysSince1970: ordinal)
        self.init(year: date.year, month: date.month, day: date.day)
    }

    /// The first day of the next month.
    var nextMonth: CivilDay { month == 12 ? CivilDay(year: year + 1, month: 1, day: 1) : CivilDay(year: year, month: month + 1, day: 1) }

    static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    var yearText: String { String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year) }
    var text: String { yearText + "-" + Self.two(month) + "-" + Self.two(day) }

    static func < (lhs: CivilDay, rhs: CivilDay) -> Bool { (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day) }
}
