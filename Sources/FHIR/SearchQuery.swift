/// A parsed FHIR search: criteria (AND across parameters, OR across comma-separated values),
/// paging, sorting, `_include` and `_summary=count`. Unknown parameters are ignored and reported
/// (lenient, the default) or refused with 400 (`Prefer: handling=strict`), as FHIR R4 §3.1.1.5 says.
public struct SearchQuery: Sendable {
    /// One criterion: a parameter and the values any of which may match.
    public struct Criterion: Sendable {
        public let parameter: SearchParameter
        public let values: [Value]
    }

    /// A parsed value.
    public enum Value: Sendable, Equatable {
        /// An exact indexed value (tokens: "system|code" or a bare code).
        case exact(String)
        /// A half-open range of normalized date strings; nil bounds are open.
        case range(from: String?, to: String?)
        /// Words for the blind index.
        case words(String)
        /// A reference to a resource: type (nil when only an id was given) and id.
        case reference(type: String?, id: String)
    }

    /// Largest `_count`.
    public static let countMax = 1_000
    /// `_count` when none is given.
    public static let countDefault = 20
    /// Most criteria in one search.
    public static let criteriaMax = 32
    /// Most values of one parameter.
    public static let valuesMax = 32
    /// Parameters that shape the result rather than select.
    public static let resultParameters: Set<String> = ["_count", "_offset", "_sort", "_summary", "_include", "_format", "_pretty", "_total"]

    public let type: String
    public var criteria: [Criterion] = []
    public var count = SearchQuery.countDefault
    public var offset = 0
    /// Sort by `_lastUpdated`, newest first unless ascending.
    public var ascending = false
    public var summaryCount = false
    /// `_include` values as (source type, element name).
    public var includes: [(type: String, element: String)] = []
    /// Parameters ignored in lenient mode (for the OperationOutcome in the searchset).
    public var ignored: [String] = []

    /// Parses a query string's name/value pairs for `type`.
    public init(type: String, pairs: [(String, String)], strict: Bool) throws(FHIRError) {
        self.type = type
        let parameters = SearchParameters.forType(type)
        func unknown(_ name: String, _ why: String) throws(FHIRError) {
            if strict { throw .invalid("search parameter \(name): \(why)") }
            ignored.append(name)
        }
        guard pairs.count <= Self.criteriaMax + Self.resultParameters.count else { throw FHIRError(400, "too-costly", "too many search parameters") }
        for (rawName, rawValue) in pairs {
            switch rawName {
            case "_count":
                guard let value = Int(rawValue), (0...Self.countMax).contains(value) else { throw .invalid("_count must be 0…\(Self.countMax)") }
                count = value
            case "_offset":
                guard let value = Int(rawValue), value >= 0, value <= 1_000_000 else { throw .invalid("_offset must be 0…1000000") }
                offset = value
            case "_sort":
                switch rawValue {
                case "_lastUpdated": ascending = true
                case "-_lastUpdated": ascending = false
                default: try unknown("_sort", "only _lastUpdated and -_lastUpdated are supported")
                }
            case "_summary":
                guard rawValue == "count" else { try unknown("_summary", "only _summary=count is supported"); continue }
                summaryCount = true
            case "_include":
                let parts = rawValue.split(separator: ":").map(String.init)
                guard parts.count == 2, parts[0] == type, !parts[1].isEmpty else {
                    try unknown("_include", "use \(type):element (e.g. \(type):patient)")
                    continue
                }
                includes.append((parts[0], parts[1]))
            case "_format", "_pretty", "_total": continue
            default:
                guard !rawName.contains(":") else { try unknown(rawName, "modifiers are not supported"); continue }
                guard let parameter = parameters[rawName] else { try unknown(rawName, "not supported for \(type)"); continue }
                let values = rawValue.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard !values.isEmpty, values.count <= Self.valuesMax, values.allSatisfy({ !$0.isEmpty }) else {
                    throw .invalid("search parameter \(rawName) needs 1…\(Self.valuesMax) non-empty values")
                }
                criteria.append(Criterion(parameter: parameter, values: try values.map { v throws(FHIRError) in try Self.parse(v, for: parameter) }))
            }
        }
        guard criteria.count <= Self.criteriaMax else { throw FHIRError(400, "too-costly", "at most \(Self.criteriaMax) search criteria") }
    }

    static func parse(_ text: String, for parameter: SearchParameter) throws(FHIRError) -> Value {
        switch (parameter.target, parameter.kind) {
        case (.patient, _):
            if let parsed = FHIRJSON.parseReference(text) { return .reference(type: parsed.type, id: parsed.id) }
            guard FHIRJSON.isValidID(text) else { throw .invalid("\(parameter.name) must be Type/id or an id, got “\(text.prefix(80))”") }
            return .reference(type: nil, id: text)
        case (.blind, _):
            return .words(text)
        case (.value, .date):
            var prefix = "eq"
            var body = text
            if let first = text.first, first.isLetter, text.count > 2 {
                prefix = String(text.prefix(2))
                body = String(text.dropFirst(2))
            }
            guard let range = FHIRDateTime.range(body) else {
                throw .invalid("\(parameter.name): “\(text.prefix(80))” is not a FHIR date or dateTime (with an optional eq, lt, le, gt, ge prefix)")
            }
            switch prefix {
            case "eq": return .range(from: range.lo, to: range.hi)
            case "lt": return .range(from: nil, to: range.lo)
            case "le": return .range(from: nil, to: range.hi)
            case "gt": return .range(from: range.hi, to: nil)
            case "ge": return .range(from: range.lo, to: nil)
            default: throw .invalid("\(parameter.name): date prefix \(prefix) is not supported (use eq, lt, le, gt, ge)")
            }
        case (.value, _):
            if text.hasPrefix("|") { return .exact(String(text.dropFirst())) }
            return .exact(text)
        }
    }
}
