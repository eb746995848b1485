import Foundation
import Vault

/// A parsed FHIR search: criteria (AND across parameters, OR across comma-separated values),
/// modifiers (`:missing`, `:not`, `:exact`), one-level chains on patient references, paging,
/// `_sort`, `_include`, `_elements` and `_summary`. Unknown parameters and modifiers are ignored and
/// reported (lenient, the default) or refused with 400 (`Prefer: handling=strict`), as FHIR R4 §3.1.1.5 says.
public struct SearchQuery: Sendable {
    /// One criterion: a parameter, its modifier, and the values any of which may match.
    public struct Criterion: Sendable {
        public let parameter: SearchParameter
        public let values: [Value]
        public var modifier: Modifier = .none
        /// A chained search (`subject:Patient.name=x`): the criterion on the referenced Patient.
        public var chain: Chain?
        /// A reverse chain (`_has:Observation:patient:code=x`, on Patient): the criterion on the
        /// resources of `Chain.type` that reference the Patient.
        public var has: Chain?
    }

    /// A search modifier this server supports.
    public enum Modifier: Sendable, Equatable {
        case none
        /// `:missing=true|false`: whether the record has any indexed value for the parameter.
        case missing(Bool)
        /// `:not` (tokens): records with no value equal to any given one (including records with none).
        case not
        /// `:exact` (strings): the whole value, case and accents included.
        case exact
        /// `:contains` (strings): the folded query anywhere in the folded value.
        case contains
        /// `:text` (tokens): words of the code's text or displays.
        case text
        /// `:of-type` (identifiers): `type-system|type-code|value`.
        case ofType
        /// `:identifier` (references): the Reference's own identifier.
        case identifier
        /// `:below` (uri: the value and every URI under it; a code: it and its descendants).
        case below
        /// `:above` (uri: the value and every URI it is under; a code: it and its ancestors).
        case above
    }

    /// The inner criterion of a one-level chain, always on the referenced Patient.
    public struct Chain: Sendable {
        public let type: String
        /// One criterion (an array only to let the struct nest).
        public let inner: [Criterion]
    }

    /// A parsed value.
    public enum Value: Sendable, Equatable {
        /// An exact indexed value (tokens: "system|code" or a bare code).
        case exact(String)
        /// Words for the blind index.
        case words(String)
        /// A reference to a resource: type (nil when only an id was given) and id.
        case reference(type: String?, id: String)
        /// Plain index rows in a few ranges, each tested exactly (dates, numbers, quantities,
        /// composites, `system|` tokens).
        case rows(RowMatch)
        /// Any of these exact indexed values (`:above`).
        case anyExact([String])
        /// A blind-indexed date against the interval [lo, hi) under a prefix (`ap` already widened).
        case blindDate(prefix: String, lo: String, hi: String)

        /// The same value for another parameter's rows (a derived parameter's part).
        public func forRows(of name: String, insteadOf old: String) -> Value {
            guard case .rows(let match) = self else { return self }
            return .rows(RowMatch(scans: match.scans.map { scan in
                RowMatch.Scan(param: scan.param == old ? name : scan.param == SearchValues.endRow(old) ? SearchValues.endRow(name) : scan.param,
                              from: scan.from, to: scan.to, reversed: scan.reversed)
            }, test: match.test))
        }
    }

    /// One `_sort` key: a date, number or quantity parameter, `_id` or `_lastUpdated`.
    public struct SortKey: Sendable, Equatable {
        public let parameter: String
        public let descending: Bool
        /// The index rows holding its values: its own, or its parts' (`SearchParameter.parts`).
        public let stored: [String]

        /// A key; `descending` for a leading `-`.
        public init(parameter: String, descending: Bool, stored: [String]? = nil) {
            (self.parameter, self.descending, self.stored) = (parameter, descending, stored ?? [parameter])
        }
    }

    /// `_summary` modes.
    public enum Summary: String, Sendable { case none, count, summary, data }

    /// Largest `_count`.
    public static let countMax = 1_000
    /// `_count` when none is given.
    public static let countDefault = 20
    /// Most criteria in one search.
    public static let criteriaMax = 32
    /// Most values of one parameter.
    public static let valuesMax = 32
    /// Most `_sort` keys.
    public static let sortKeysMax = 4
    /// Most `_elements` names.
    public static let elementsMax = 64
    /// Parameters that shape the result rather than select.
    public static let resultParameters: Set<String> = ["_count", "_offset", "_sort", "_summary", "_include", "_revinclude",
                                                       "_revinclude:iterate", "_format", "_pretty", "_total", "_elements"]

    public let type: String
    public var criteria: [Criterion] = []
    public var count = SearchQuery.countDefault
    public var offset = 0
    /// `_sort` keys in order; empty: newest `_lastUpdated` first. Ties are broken by logical id.
    public var sort: [SortKey] = []
    /// Sort by `_lastUpdated` ascending (the single-key form of `sort`, kept for callers that page by time).
    public var ascending: Bool {
        get { sort == [SortKey(parameter: "_lastUpdated", descending: false)] }
        set { sort = newValue ? [SortKey(parameter: "_lastUpdated", descending: false)] : [] }
    }
    public var summary = Summary.none
    /// `_total=none|estimate|accurate`: whether the searchset carries its total (R4 §3.1.1.5.7).
    /// The total is always exact when given, so estimate is answered as accurate.
    public var total = TotalMode.accurate

    /// `_total` modes.
    public enum TotalMode: String, Sendable { case none, estimate, accurate }
    /// `_summary=count`.
    public var summaryCount: Bool { summary == .count }
    /// `_elements`: top-level elements to return (nil: all).
    public var elements: [String]?
    /// `_include` values as (source type, element name).
    public var includes: [(type: String, element: String)] = []
    /// `_revinclude` values: resources of `type` whose patient reference (`element`: patient or
    /// subject) names a matched Patient; `iterate` (`_revinclude:iterate`) also those naming an
    /// included Patient (one level).
    public var revincludes: [(type: String, element: String, iterate: Bool)] = []
    /// Parameters ignored in lenient mode (for the OperationOutcome in the searchset).
    public var ignored: [String] = []

    /// Parses a query string's name/value pairs for `type`.
    public init(type: String, pairs: [(String, String)], strict: Bool) throws(FHIRError) {
        self.type = type
        let parameters = SearchParameters.forType(type)
        func unknown(_ name: String, _ why: String) throws(FHIRError) {
            if strict { throw .invalid("search parameter \(name): \(why)") }
            ignored.append("\(name) (\(why))")
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
                var keys: [SortKey] = []
                for raw in rawValue.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                    let descending = raw.hasPrefix("-")
                    let name = descending ? String(raw.dropFirst()) : raw
                    if name == "_id" || name == "_lastUpdated" || parameters[name].map(Self.sortable) == true {
                        let parts = parameters[name]?.parts.map(\.name) ?? []
                        keys.append(SortKey(parameter: name, descending: descending, stored: parts.isEmpty ? nil : parts))
                    } else if let parameter = parameters[name], case .blind = parameter.target {
                        try unknown("_sort=\(raw)", "\(name) is held only as keyed hashes (blind index, no plaintext at rest), so it has no order to sort by")
                    } else {
                        try unknown("_sort=\(raw)", "sortable for \(type): _id, _lastUpdated\(Self.sortableNames(parameters))")
                    }
                }
                guard keys.count <= Self.sortKeysMax else { throw .invalid("_sort takes at most \(Self.sortKeysMax) keys") }
                if !keys.isEmpty { sort = keys }
            case "_summary":
                switch rawValue {
                case "count": summary = .count
                case "true": summary = .summary
                case "data": summary = .data
                case "false": summary = .none
                default: try unknown("_summary", "use true, false, data or count")
                }
            case "_elements":
                let names = rawValue.split(separator: ",").map { String($0).filter { !$0.isWhitespace } }.filter { !$0.isEmpty }
                guard !names.isEmpty, names.count <= Self.elementsMax, names.allSatisfy({ $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }) else {
                    throw .invalid("_elements takes 1…\(Self.elementsMax) comma-separated top-level element names")
                }
                elements = names
            case "_include":
                let parts = rawValue.split(separator: ":").map(String.init)
                guard parts.count == 2, parts[0] == type, !parts[1].isEmpty else {
                    try unknown("_include", "use \(type):element (e.g. \(type):patient)")
                    continue
                }
                includes.append((parts[0], parts[1]))
            case "_revinclude", "_revinclude:iterate":
                let parts = rawValue.split(separator: ":").map(String.init)
                guard parts.count == 2, let target = SearchParameters.forType(parts[0])[parts[1]], target.target == .patient else {
                    try unknown(rawName, "use Type:element where element references the Patient (e.g. Observation:patient, Encounter:subject)")
                    continue
                }
                revincludes.append((parts[0], parts[1], rawName.hasSuffix(":iterate")))
            case "_total":
                guard let mode = TotalMode(rawValue: rawValue) else { throw .invalid("_total must be none, estimate or accurate") }
                total = mode
            case "_format", "_pretty": continue
            case _ where rawName.hasPrefix("_has:"):
                do { criteria.append(try Self.has(rawName, rawValue, type: type)) } catch let error as Unsupported {
                    try unknown(rawName, error.why)
                } catch let error as FHIRError {
                    throw error
                } catch {
                    throw .invalid("search parameter \(rawName): \(error)")
                }
            default:
                do {
                    if let criterion = try Self.criterion(rawName, rawValue, type: type, parameters: parameters, chainAllowed: true) { criteria.append(criterion) }
                } catch let error as Unsupported {
                    try unknown(rawName, error.why)
                } catch let error as FHIRError {
                    throw error
                } catch {
                    throw .invalid("search parameter \(rawName): \(error)")
                }
            }
        }
        guard criteria.count <= Self.criteriaMax else { throw FHIRError(400, "too-costly", "at most \(Self.criteriaMax) search criteria") }
    }

    /// `_has:Type:reference:parameter=value` on Patient (one level, R4 §3.1.1.4.9): Patients that
    /// some `Type` resource naming them through `reference` (a patient reference) matches.
    static func has(_ rawName: String, _ rawValue: String, type: String) throws -> Criterion {
        let parts = rawName.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard type == "Patient" else { throw Unsupported(why: "_has is supported on Patient searches (resources reference patients here)") }
        guard parts.count == 4, FHIRResourceTypes.all.contains(parts[1]) else { throw Unsupported(why: "use _has:Type:reference:parameter=value") }
        let parameters = SearchParameters.forType(parts[1])
        guard parameters[parts[2]]?.target == .patient else {
            throw Unsupported(why: "\(parts[2]) is not a patient reference of \(parts[1]) (use patient or subject)")
        }
        guard !parts[3].hasPrefix("_has") else { throw Unsupported(why: "_has is one level deep") }
        guard let inner = try criterion(parts[3], rawValue, type: parts[1], parameters: parameters, chainAllowed: false) else {
            throw Unsupported(why: "\(parts[3]) is not supported for \(parts[1])")
        }
        guard let reference = parameters[parts[2]] else { throw Unsupported(why: "no parameter \(parts[2])") }
        var out = Criterion(parameter: reference, values: [])
        out.has = Chain(type: parts[1], inner: [inner])
        return out
    }

    /// A parameter or modifier this server does not support (400 in strict mode, ignored otherwise).
    struct Unsupported: Error { let why: String }

    /// The names of the parameters a type can be sorted by, for diagnostics.
    static func sortableNames(_ parameters: [String: SearchParameter]) -> String {
        let names = parameters.values.filter { sortable($0) && $0.name != "_lastUpdated" }.map(\.name).sorted()
        return names.isEmpty ? "" : ", " + names.joined(separator: ", ")
    }

    /// Whether results can be ordered by a parameter: dates (a blind birth date by its sealed
    /// value), numbers and quantities (by number; the index writes them in numeric order).
    static func sortable(_ parameter: SearchParameter) -> Bool {
        switch (parameter.kind, parameter.target) {
        case (.date, _): return true
        case (.number, .value), (.quantity, .value): return true
        default: return false
        }
    }

    /// Parses one `name[:modifier][.chained]=value` pair; throws `Unsupported` for what is ignorable, FHIRError for bad values.
    static func criterion(_ rawName: String, _ rawValue: String, type: String, parameters: [String: SearchParameter],
                          chainAllowed: Bool) throws -> Criterion? {
        var head = rawName
        var chained: String?
        if let dot = rawName.firstIndex(of: ".") {
            head = String(rawName[..<dot])
            chained = String(rawName[rawName.index(after: dot)...])
        }
        let parts = head.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0]
        let modifierText = parts.count > 1 ? parts[1] : nil
        guard let parameter = parameters[name] else { throw Unsupported(why: "not supported for \(type)") }
        if let chained {
            guard chainAllowed else { throw Unsupported(why: "chains are one level deep") }
            guard parameter.target == .patient else { throw Unsupported(why: "chaining is supported on patient references (patient, subject, beneficiary)") }
            guard modifierText == nil || modifierText == "Patient" else { throw Unsupported(why: "\(name) references Patient here; :\(modifierText!) is not a supported target type") }
            let inner = try criterion(chained, rawValue, type: "Patient", parameters: SearchParameters.forType("Patient"), chainAllowed: false)
            guard let inner else { return nil }
            var out = Criterion(parameter: parameter, values: [])
            out.chain = Chain(type: "Patient", inner: [inner])
            return out
        }
        var modifier = Modifier.none
        if let modifierText {
            switch modifierText {
            case "missing":
                guard rawValue == "true" || rawValue == "false" else { throw FHIRError.invalid("\(name):missing takes true or false") }
                return Criterion(parameter: parameter, values: [], modifier: .missing(rawValue == "true"))
            case "not":
                guard parameter.kind == .token, parameter.target == .value || parameter.target == .blind(.gender) else {
                    throw Unsupported(why: ":not applies to token parameters with plain values (code, status, gender, …)")
                }
                modifier = .not
            case "exact", "contains":
                guard parameter.kind == .string else { throw Unsupported(why: ":\(modifierText) applies to string parameters") }
                modifier = modifierText == "exact" ? .exact : .contains
            case "text":
                guard parameter.kind == .token, parameter.target == .value else {
                    throw Unsupported(why: ":text applies to token parameters of codes (CodeableConcept, Coding)")
                }
                modifier = .text
            case "of-type":
                guard parameter.target == .blind(.identifier) else { throw Unsupported(why: ":of-type applies to identifier parameters") }
                modifier = .ofType
            case "identifier":
                guard parameter.kind == .reference else { throw Unsupported(why: ":identifier applies to reference parameters") }
                modifier = .identifier
            case "below", "above":
                guard parameter.kind == .uri || parameter.kind == .token && parameter.target == .value else {
                    throw Unsupported(why: ":\(modifierText) applies to uri parameters and to codes")
                }
                if parameter.kind == .token {
                    // Codes: through the hierarchies of the code systems R4 defines; others are not known here.
                    let unknown = rawValue.split(separator: ",").map(String.init).first { value in
                        let parts = value.split(separator: "|", maxSplits: 1).map(String.init)
                        return parts.count != 2 || !CodeHierarchy.knows(parts[0])
                    }
                    if let unknown {
                        throw Unsupported(why: ":\(modifierText) on a code needs system|code of a code system whose hierarchy R4 defines (not \(unknown.prefix(80)))")
                    }
                }
                modifier = modifierText == "below" ? .below : .above
            default:
                if parameter.kind == .reference, parameter.target == .patient, modifierText == "Patient" || FHIRResourceTypes.all.contains(modifierText) {
                    throw Unsupported(why: "a type modifier applies only to a chain here")
                }
                throw Unsupported(why: "modifier :\(modifierText) is not supported (supported: :missing, :not, :exact, :contains, :text, :of-type, :identifier, :below, :above, chains on patient references)")
            }
        }
        let values = rawValue.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !values.isEmpty, values.count <= Self.valuesMax, values.allSatisfy({ !$0.isEmpty }) else {
            throw FHIRError.invalid("search parameter \(rawName) needs 1…\(Self.valuesMax) non-empty values")
        }
        return Criterion(parameter: parameter, values: try values.map { v throws(FHIRError) in try Self.parse(v, for: parameter, modifier: modifier) },
                         modifier: modifier)
    }

    /// A value under a modifier that reads it its own way.
    static func parse(_ text: String, for parameter: SearchParameter, modifier: Modifier) throws(FHIRError) -> Value {
        switch modifier {
        case .contains:
            guard BlindIndexer.normalize(text).joined(separator: " ").count >= BlindIndexer.prefixMin else {
                throw .invalid("\(parameter.name):contains needs at least \(BlindIndexer.prefixMin) letters or digits (it is matched by keyed trigrams)")
            }
            return .words(text)
        case .text: return .words(text)
        case .ofType:
            let parts = text.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { throw .invalid("\(parameter.name):of-type takes type-system|type-code|value") }
            return .words(BlindIndexer.typeQualified(system: parts[0], code: parts[1], value: parts[2]))
        case .identifier:
            let parts = text.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            return .words(parts.count == 2 ? BlindIndexer.systemQualified(system: parts[0], value: parts[1]) : text)
        case .below where parameter.kind == .token, .above where parameter.kind == .token:
            let parts = text.split(separator: "|", maxSplits: 1).map(String.init)
            let codes = (modifier == .below ? CodeHierarchy.below(system: parts[0], code: parts[1]) : CodeHierarchy.above(system: parts[0], code: parts[1])) ?? []
            return .anyExact(codes.map { parts[0] + "|" + $0 })
        case .below:
            return .rows(RowMatch(scans: [RowMatch.Scan(param: parameter.name, from: text, to: SearchValues.prefixEnd(text), reversed: false)],
                                  test: .prefix(text)))
        case .above:
            // The value and each of its leading parts that ends before a "/".
            var out = [text]
            var part = Substring(text)
            while let slash = part.dropLast().lastIndex(of: "/"), out.count < 32 {
                part = part[..<slash]
                if !part.hasSuffix("/") { out.append(String(part)) }
                out.append(String(part) + "/")
            }
            return .anyExact(out)
        default: return try parse(text, for: parameter)
        }
    }

    static func parse(_ text: String, for parameter: SearchParameter) throws(FHIRError) -> Value {
        switch (parameter.target, parameter.kind) {
        case (.value, .reference) where !parameter.paths.contains(where: { $0.type == "Reference" }):
            return .exact(text)   // a canonical (`instantiates-canonical`): its URL
        case (.patient, _), (.value, .reference):
            if let parsed = FHIRJSON.parseReference(text) {
                guard !text.contains("://") else { return .exact(text) }
                return .reference(type: parsed.type, id: parsed.id)
            }
            guard FHIRJSON.isValidID(text) else {
                if parameter.kind == .reference, parameter.target == .value, text.contains(":") { return .exact(text) }   // a canonical or URL
                throw .invalid("\(parameter.name) must be Type/id or an id, got “\(text.prefix(80))”")
            }
            return .reference(type: nil, id: text)
        case (.blind(.identifier), _):
            // `system|value` matches that system's identifier, `system|` any of the system's,
            // `|value` a value with no system (one keyed token each); `value` the value under any system.
            let parts = text.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { return .words(text) }
            return .words(BlindIndexer.systemQualified(system: parts[0], value: parts[1]))
        case (.blind, .date):
            return try dateRange(text, for: parameter)
        case (.blind, _):
            return .words(text)
        case (.value, .token):
            // `system|` is any code of that system; `system|code`, `code` and `|code` are stored as such.
            if text.hasSuffix("|"), text.count > 1, !text.dropLast().contains("|") {
                return .rows(RowMatch(scans: [RowMatch.Scan(param: parameter.name, from: text, to: SearchValues.prefixEnd(text), reversed: false)],
                                      test: .prefix(text)))
            }
            return .exact(text)
        case (.value, .date):
            let (prefix, body) = Self.prefix(text)
            guard let (lo, hi) = SearchValues.searchInterval(body) else {
                throw .invalid("\(parameter.name): “\(text.prefix(80))” is not a FHIR date or dateTime (with an optional eq, ne, lt, le, gt, ge, sa, eb or ap prefix)")
            }
            return .rows(try dateRows(parameter.name, prefix: prefix, lo: lo, hi: hi))
        case (.value, .number):
            let (prefix, body) = Self.prefix(text)
            return .rows(try numberRows(parameter.name, prefix: prefix, body, text: text))
        case (.value, .quantity):
            let (prefix, body) = Self.prefix(text)
            let parts = body.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 1 || parts.count == 3 else { throw .invalid("\(parameter.name): use [prefix]number|system|code or [prefix]number") }
            let rows = try numberRows(parameter.name, prefix: prefix, parts[0], text: text)
            guard parts.count == 3 else { return .rows(rows) }
            return .rows(RowMatch(scans: rows.scans, test: .quantity(rows.test, system: parts[1].isEmpty ? nil : parts[1], code: parts[2].isEmpty ? nil : parts[2])))
        case (.value, .uri):
            return .exact(text)
        case (.value, .composite):
            return .rows(try compositeRows(text, parameter))
        case (.value, .string):
            return .words(text)
        }
    }

    /// A search value's prefix (R4 §3.1.1.5.6; `eq` when none) and the rest.
    static func prefix(_ text: String) -> (String, String) {
        let head = String(text.prefix(2))
        guard text.count > 2, ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"].contains(head) else { return ("eq", text) }
        return (head, String(text.dropFirst(2)))
    }

    /// The rows of a date parameter matching [lo, hi) with a prefix: index ranges on the interval
    /// starts (`name`) or ends (`name>`), each row then tested against the table of §3.1.1.5.6.
    /// Intervals of a day or less have no end row: a range on the ends is also a range on the
    /// starts from a day earlier (`SearchValues.startsBefore`). `ap` widens the value by a tenth
    /// of its own length (at least a day) on each side.
    static func dateRows(_ name: String, prefix: String, lo: String, hi: String) throws(FHIRError) -> RowMatch {
        let end = SearchValues.endRow(name)
        func scan(_ param: String, _ from: String, _ to: String?) -> RowMatch.Scan {
            RowMatch.Scan(param: param, from: from, to: to, reversed: param == end)
        }
        // Ends after `hi`: long intervals by their end rows, short ones by their starts.
        let endsAfterHi = [scan(end, hi + "}", nil)] + (SearchValues.startsBefore(hi).map { [scan(name, $0, nil)] } ?? [])
        switch prefix {
        case "eq": return RowMatch(scans: [scan(name, lo, hi)], test: .date(prefix: prefix, lo: lo, hi: hi))
        case "ne": return RowMatch(scans: [scan(name, "", nil)], test: .date(prefix: prefix, lo: lo, hi: hi))
        case "gt": return RowMatch(scans: endsAfterHi, test: .date(prefix: prefix, lo: lo, hi: hi))
        case "lt": return RowMatch(scans: [scan(name, "", lo)], test: .date(prefix: prefix, lo: lo, hi: hi))
        case "ge": return RowMatch(scans: endsAfterHi + [scan(name, lo, hi)], test: .date(prefix: prefix, lo: lo, hi: hi))
        case "le": return RowMatch(scans: [scan(name, "", hi)], test: .date(prefix: prefix, lo: lo, hi: hi))
        case "sa": return RowMatch(scans: [scan(name, hi, nil)], test: .date(prefix: prefix, lo: lo, hi: hi))
        // Ends at or before `lo`: a short interval also starts before it.
        case "eb": return RowMatch(scans: [scan(end, "", lo + "}"), scan(name, "", lo)], test: .date(prefix: prefix, lo: lo, hi: hi))
        default:   // ap
            guard let (wideLo, wideHi) = SearchValues.approximately(lo: lo, hi: hi) else { throw .invalid("\(name): ap needs a date") }
            return RowMatch(scans: [scan(name, "", wideHi)], test: .date(prefix: prefix, lo: wideLo, hi: wideHi))
        }
    }

    /// The rows of a number (or a quantity's number) with a prefix. `eq`/`ne` use the value's
    /// precision (`100` is [99.5, 100.5)); `ap` is within 10%.
    static func numberRows(_ name: String, prefix: String, _ body: String, text: String) throws(FHIRError) -> RowMatch {
        guard let value = SortableNumber.encode(body), let precise = SortableNumber.precisionRange(body),
              let approximate = SortableNumber.approximateRange(body) else {
            throw .invalid("\(name): “\(text.prefix(80))” is not a number (with an optional eq, ne, lt, le, gt, ge, sa, eb or ap prefix)")
        }
        let above = "\u{7F}"   // past every row that begins with the bound
        let scans: [RowMatch.Scan]
        switch prefix {
        case "eq": scans = [RowMatch.Scan(param: name, from: precise.lo, to: precise.hi + above, reversed: false)]
        case "ap": scans = [RowMatch.Scan(param: name, from: approximate.lo, to: approximate.hi + above, reversed: false)]
        case "ne": scans = [RowMatch.Scan(param: name, from: "", to: nil, reversed: false)]
        case "gt", "ge", "sa": scans = [RowMatch.Scan(param: name, from: value, to: nil, reversed: false)]
        default: scans = [RowMatch.Scan(param: name, from: "", to: value + above, reversed: false)]   // lt, le, eb
        }
        let bounds = prefix == "ap" ? approximate : precise
        return RowMatch(scans: scans, test: .number(prefix: prefix, lo: bounds.lo, hi: bounds.hi, value: value))
    }

    /// A composite value `first$second`: rows beginning with the first component's token, the
    /// second tested by its own type (a prefix allowed on a date, number or quantity).
    static func compositeRows(_ text: String, _ parameter: SearchParameter) throws(FHIRError) -> RowMatch {
        let parts = text.split(separator: "$", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, parameter.components.count == 2 else {
            throw .invalid("\(parameter.name) takes two values joined by $ (e.g. http://loinc.org|8480-6$gt100)")
        }
        let first = parts[0]
        let scan = RowMatch.Scan(param: parameter.name, from: first + "$", to: first + "%", reversed: false)
        let second: RowTest
        switch parameter.components[1].kind {
        case .date:
            let (prefix, body) = Self.prefix(parts[1])
            guard let (lo, hi) = SearchValues.searchInterval(body) else { throw .invalid("\(parameter.name): “\(parts[1].prefix(80))” is not a date") }
            second = .date(prefix: prefix, lo: lo, hi: hi)
        case .number:
            let (prefix, body) = Self.prefix(parts[1])
            second = try numberRows(parameter.name, prefix: prefix, body, text: parts[1]).test
        case .quantity:
            let (prefix, body) = Self.prefix(parts[1])
            let units = body.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            let number = try numberRows(parameter.name, prefix: prefix, units[0], text: parts[1]).test
            second = units.count == 3 ? .quantity(number, system: units[1].isEmpty ? nil : units[1], code: units[2].isEmpty ? nil : units[2])
                                      : .quantity(number, system: nil, code: nil)
        case .reference:
            second = .exact(FHIRJSON.parseReference(parts[1]).map { $0.type + "/" + $0.id } ?? parts[1])
        default:
            second = .exact(parts[1])
        }
        return RowMatch(scans: [scan], test: .composite(first: first, second))
    }

    /// A blind date criterion: a FHIR date or dateTime with any prefix, as the interval it covers.
    static func dateRange(_ text: String, for parameter: SearchParameter) throws(FHIRError) -> Value {
        let (prefix, body) = Self.prefix(text)
        guard let (lo, hi) = SearchValues.searchInterval(body) else {
            throw .invalid("\(parameter.name): “\(text.prefix(80))” is not a FHIR date or dateTime (with an optional eq, ne, lt, le, gt, ge, sa, eb or ap prefix)")
        }
        if prefix == "ap", let wide = SearchValues.approximately(lo: lo, hi: hi) { return .blindDate(prefix: prefix, lo: wide.lo, hi: wide.hi) }
        return .blindDate(prefix: prefix, lo: lo, hi: hi)
    }
}

extension SearchQuery {
    /// The `meta.tag` FHIR requires on a resource returned with only some of its elements.
    public static var subsettedTag: [String: Any] { ["system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
                                                     "display": "subsetted"] }
    /// Elements kept by every subset: the resource's identity and metadata.
    public static let mandatoryElements: Set<String> = ["resourceType", "id", "meta", "implicitRules"]

    /// Whether `shape` changes resources (`_elements`, `_summary=true|data`).
    public var subsets: Bool { elements != nil || summary == .summary || summary == .data }

    /// The resource as this search returns it: only `_elements` (plus id, meta, resourceType), or the
    /// summary elements of its type (`_summary=true`), or all but `text` (`_summary=data`); a
    /// resource that lost elements is tagged SUBSETTED. Applied after decryption, to the response only.
    public func shape(_ resource: [String: Any]) -> [String: Any] {
        let type = resource["resourceType"] as? String ?? self.type
        let keep: (String) -> Bool
        if let elements {
            let wanted = Set(elements)
            keep = { Self.mandatoryElements.contains($0) || wanted.contains($0) || Self.choiceMatch($0, in: wanted) }
        } else if summary == .summary {
            let wanted = SearchParameters.summaryElements(type)
            keep = { Self.mandatoryElements.contains($0) || wanted.contains($0) || Self.choiceMatch($0, in: wanted) }
        } else if summary == .data {
            keep = { $0 != "text" }
        } else {
            return resource
        }
        var out = resource.filter { keep($0.key) }
        guard out.count < resource.count else { return out }
        var meta = out["meta"] as? [String: Any] ?? [:]
        var tags = meta["tag"] as? [Any] ?? []
        let tagged = tags.contains { ($0 as? [String: Any])?["code"] as? String == "SUBSETTED" }
        if !tagged { tags.append(Self.subsettedTag) }
        meta["tag"] = tags
        out["meta"] = meta
        return out
    }

    /// Whether `key` is a typed form of a choice element in `names` (`value[x]` or `value` → `valueQuantity`).
    static func choiceMatch(_ key: String, in names: Set<String>) -> Bool {
        for name in names {
            let stem = name.hasSuffix("[x]") ? String(name.dropLast(3)) : name
            guard key.count > stem.count, key.hasPrefix(stem), key[key.index(key.startIndex, offsetBy: stem.count)].isUppercase else { continue }
            return true
        }
        return false
    }
}

extension SearchQuery {
    /// The name/value pairs of a query string or an `application/x-www-form-urlencoded` body
    /// (`+` is a space, then percent-decoding; a pair without a name is dropped).
    public static func formPairs(_ text: String) -> [(String, String)] {
        text.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = parts.first, !name.isEmpty else { return nil }
            return (name, parts.count > 1 ? parts[1] : "")
        }
    }
}
