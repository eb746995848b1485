public import Contracts
public import FHIR
import Foundation
import LedgerCore

/// FHIR R4's conditional interactions (§3.1.0.4.3 conditional update, §3.1.0.7.1 conditional
/// delete) and history paging. A condition is a search, run as the requester: a resource the
/// requester may not read does not match, so a condition never tells whether such a resource exists.
extension FHIRService {
    /// The matches of a condition (at most two are read: one is all an interaction acts on, two
    /// are enough to refuse). An empty condition is refused: it would match every resource.
    func conditionMatches(type: String, condition: [(String, String)], requester: Identity, purpose: Purpose) async throws(FHIRError)
        -> FHIRSearchResult {
        var query = try SearchQuery(type: type, pairs: condition, strict: true)
        guard !query.criteria.isEmpty else { throw .invalid("a conditional \(type) interaction needs search criteria (e.g. ?identifier=system|value)") }
        query.count = 2
        query.offset = 0
        return try await search(query, requester: requester, purpose: purpose)
    }

    /// `PUT /fhir/{type}?criteria`: no match creates the resource (at its own id, if it has one:
    /// update as create), one match updates it (a resource id that is not the match's is a 400),
    /// several are a 412. `ifMatch` and `ifNoneMatch` apply to the matched resource.
    public func conditionalUpdate(_ resource: [String: Any], type: String, condition: [(String, String)], ifMatch: UInt64?,
                                  ifNoneMatch: Bool = false, requester: Identity, purpose: Purpose = .treatment) async throws(FHIRError)
        -> (version: FHIRVersion, created: Bool) {
        let found = try await conditionMatches(type: type, condition: condition, requester: requester, purpose: purpose)
        let bodyID = resource["id"] as? String
        switch found.total {
        case 0:
            if let bodyID {
                return try await update(resource, type: type, id: bodyID, ifMatch: ifMatch, ifNoneMatch: ifNoneMatch, requester: requester)
            }
            if let ifMatch { throw .preconditionFailed("no \(type) matches the condition (If-Match W/\"\(ifMatch)\")") }
            return (try await create(resource, type: type, requester: requester), true)
        case 1:
            guard let match = found.matches.first else { throw FHIRError(500, "exception", "the match was not served") }
            if let bodyID, bodyID != match.id {
                throw .invalid("the resource's id \(bodyID) is not the id of the \(type) the condition matches (\(match.id))", at: "\(type).id")
            }
            var resource = resource
            resource["id"] = match.id
            return try await update(resource, type: type, id: match.id, ifMatch: ifMatch, ifNoneMatch: ifNoneMatch, requester: requester)
        default:
            throw .preconditionFailed("the condition matches \(found.total) \(type) resources you may read; a conditional update needs one")
        }
    }

    /// `DELETE /fhir/{type}?criteria`, single-match mode (the CapabilityStatement says
    /// `conditionalDelete: single`): one match is deleted (erased), several are a 412, none is
    /// nothing to do. Returns the deleted resource's id, or nil when nothing matched.
    public func conditionalDelete(type: String, condition: [(String, String)], requester: Identity,
                                  purpose: Purpose = .treatment) async throws(FHIRError) -> String? {
        let found = try await conditionMatches(type: type, condition: condition, requester: requester, purpose: purpose)
        switch found.total {
        case 0: return nil
        case 1:
            guard let match = found.matches.first else { throw FHIRError(500, "exception", "the match was not served") }
            try await delete(type: type, id: match.id, requester: requester)
            return match.id
        default:
            throw .preconditionFailed("the condition matches \(found.total) \(type) resources you may read; this server deletes one at a time "
                                      + "(conditionalDelete: single)")
        }
    }
}

/// `_since`, `_count` and `_offset` of a history interaction (R4 §3.1.0.6.1).
public struct HistoryQuery: Sendable, Equatable {
    /// Only versions written at or after this time (ms since 1970), if set.
    public var sinceMs: Int64?
    public var count = HistoryQuery.countDefault
    public var offset = 0

    /// `_count` when none is given.
    public static let countDefault = 100

    public init(sinceMs: Int64? = nil, count: Int = HistoryQuery.countDefault, offset: Int = 0) {
        (self.sinceMs, self.count, self.offset) = (sinceMs, count, offset)
    }

    /// Parses the query's pairs; any other parameter is a 400 (history takes no search criteria).
    public init(pairs: [(String, String)]) throws(FHIRError) {
        for (name, value) in pairs {
            switch name {
            case "_since":
                guard value.count > 10, let ms = Self.instantMs(value) else {
                    throw .invalid("_since must be an instant with a time zone (e.g. 2026-01-31T09:00:00Z)", at: "_since")
                }
                sinceMs = ms
            case "_count":
                guard let number = Int(value), (1...SearchQuery.countMax).contains(number) else {
                    throw .invalid("_count must be 1…\(SearchQuery.countMax)", at: "_count")
                }
                count = number
            case "_offset":
                guard let number = Int(value), (0...1_000_000).contains(number) else { throw .invalid("_offset must be 0…1000000", at: "_offset") }
                offset = number
            case "_format", "_pretty": continue
            default: throw .invalid("history takes _since, _count and _offset, not \(name.prefix(40))", at: String(name.prefix(40)))
            }
        }
    }

    /// Milliseconds of an instant, fractional seconds included (to the millisecond, rounded down).
    static func instantMs(_ text: String) -> Int64? {
        guard let start = FHIRDateTime.milliseconds(text) else { return nil }
        guard let dot = text.firstIndex(of: "."), text.distance(from: text.startIndex, to: dot) == 19 else { return start }
        let digits = text[text.index(after: dot)...].prefix { $0.isASCII && $0.isNumber }
        let millis = Int64(String(digits.prefix(3)).padding(toLength: 3, withPad: "0", startingAt: 0)) ?? 0
        return start + millis
    }

    /// The page of `all` (newest first) this query asks for, after `_since`, and the total.
    public func page<T>(_ all: [T], timeMs: (T) -> Int64) -> (total: Int, page: [T]) {
        let kept = sinceMs.map { since in all.filter { timeMs($0) >= since } } ?? all
        guard offset < kept.count else { return (kept.count, []) }
        return (kept.count, Array(kept[offset..<min(kept.count, offset + count)]))
    }
}
