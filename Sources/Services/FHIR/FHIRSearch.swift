public import Contracts
public import FHIR
import Foundation
public import LedgerCore
import Node
import Storage
public import Vault

/// What a search found: the permitted total, one page of entries and what `_include` added.
public struct FHIRSearchResult: Sendable {
    public let total: Int
    public let matches: [FHIRVersion]
    public let included: [FHIRVersion]
}

/// How broad one FHIR search may be.
public struct SearchLimits: Sendable {
    /// Most matches a requester may read that one search may have; a broader search is refused
    /// (too-costly). Counted after the consent decisions, so the refusal says nothing about records
    /// the requester may not read (security review finding 12).
    public var matchesMax: Int
    /// Most index entries one criterion may produce before consent decisions; past this a search is
    /// refused (too-costly) before any decision — it then says only that more than this many of
    /// the node's records match the criterion.
    public var indexCandidatesMax: Int

    public init(matchesMax: Int, indexCandidatesMax: Int) { (self.matchesMax, self.indexCandidatesMax) = (matchesMax, indexCandidatesMax) }

    /// 10,000 readable matches, 100,000 index entries.
    public static let standard = SearchLimits(matchesMax: 10_000, indexCandidatesMax: 100_000)
}

extension FHIRService {    /// Most referenced resources (Patients the requester may read) one chained criterion may resolve to.
    public static let chainTargetsMax = 1_000

    /// Runs a search: candidates from the index (AND across criteria, OR across values; `:not`
    /// and `:missing` filter the candidates; chains resolve the inner Patient search through the
    /// requester's consent decisions first), only records the requester may read (consent
    /// decision), sorted (`_sort`, default newest first, ties by logical id), one page read through
    /// logged decisions; `_include` targets likewise.
    public func search(_ query: SearchQuery, requester: Identity, purpose: Purpose) async throws(FHIRError) -> FHIRSearchResult {
        var candidates = try lookup(SearchQuery.Value.exact(query.type), param: "_type")
        for criterion in query.criteria where !candidates.isEmpty {
            candidates = try await apply(criterion, to: candidates, requester: requester, purpose: purpose)
        }
        var permitted: [(record: Hash256, timeMs: Int64)] = []
        for record in candidates {
            let decision = await access.decide(AccessRequest(requester: requester.id, record: record, purpose: purpose, action: .read))
            guard decision.isPermitted, let entry = decision.record, entry.resourceType == query.type else { continue }
            permitted.append((record, entry.timeMs))
            guard permitted.count <= searchLimits.matchesMax else {
                throw FHIRError(400, "too-costly", "more than \(searchLimits.matchesMax) matches you may read; narrow the search")
            }
        }
        permitted = try sorted(permitted, by: query.sort)
        let served = query.summaryCount || query.count == 0 || query.offset >= permitted.count
            ? 0..<0 : query.offset..<min(permitted.count, query.offset + query.count)
        // The total says that each permitted match exists and matches (`_summary=count` says nothing
        // else): those not served on this page are logged decisions too, releasing nothing (finding 10).
        let counted = permitted.indices.filter { !served.contains($0) }.map { permitted[$0].record }
        if !counted.isEmpty {
            do {
                _ = try await access.authorize(counted.map { AccessRequest(requester: requester.id, record: $0, purpose: purpose, action: .read) },
                                               releasing: false)
            } catch { throw Self.map(error) }
        }
        guard !served.isEmpty else { return FHIRSearchResult(total: permitted.count, matches: [], included: []) }
        let page = permitted[served]
        let matches = try await serveAll(page.map(\.record), requester: requester, purpose: purpose)
        var included: [FHIRVersion] = []
        if !query.includes.isEmpty {
            var seen = Set(matches.map { recordID(type: $0.type, id: $0.id) })
            var targets: [Hash256] = []
            for match in matches {
                for include in query.includes {
                    // `patient` and `subject` follow whichever element names the patient.
                    let elements = ["patient", "subject"].contains(include.element) ? FHIRResourceTypes.patientElements : [include.element]
                    for reference in elements.flatMap({ Self.references(in: match.resource, element: $0) }) {
                        guard let parsed = FHIRJSON.parseReference(reference) else { continue }
                        let record = recordID(type: parsed.type, id: parsed.id)
                        if seen.insert(record).inserted { targets.append(record) }
                    }
                }
            }
            // Included resources the requester may not read are left out, as FHIR allows.
            included = try await serveAll(targets, requester: requester, purpose: purpose, skipDenied: true)
        }
        if !query.revincludes.isEmpty {
            included += try await revincluded(query.revincludes, matches: matches, included: included, requester: requester, purpose: purpose)
        }
        return FHIRSearchResult(total: permitted.count, matches: matches, included: included)
    }

    /// `_has:Type:reference:criterion`: the candidate Patients that a `Type` resource the
    /// requester may read, matching `inner`, is about. Resources the requester may not read do not
    /// count, so `_has` never tells that one exists; those that made a Patient match are logged as
    /// decisions that released nothing (as a search's total is, finding 10).
    func reverseChain(_ type: String, _ inner: SearchQuery.Criterion, candidates: Set<Hash256>, requester: Identity,
                      purpose: Purpose) async throws(FHIRError) -> Set<Hash256> {
        var byPatient: [IdentityID: [Hash256]] = [:]
        for match in try await readable(type, matching: inner, requester: requester, purpose: purpose) {
            byPatient[match.patient, default: []].append(match.record)
        }
        var matched = Set<Hash256>(), used = Set<Hash256>()
        for record in candidates {
            guard let patient = RecordIndex.current(record, in: state)?.patient, let referring = byPatient[patient] else { continue }
            matched.insert(record)
            used.formUnion(referring)
        }
        if !used.isEmpty {
            do {
                _ = try await access.authorize(used.sorted().map { AccessRequest(requester: requester.id, record: $0, purpose: purpose, action: .read) },
                                               releasing: false)
            } catch { throw Self.map(error) }
        }
        return matched
    }

    /// The records of `type` matching `inner` that the requester may read (consent decisions, not
    /// logged: nothing is released), in record-id order, with their patients; past `limit` of them
    /// the search is refused with `tooMany`. Chains and `_has` both run their inner search so.
    func readable(_ type: String, matching inner: SearchQuery.Criterion, requester: Identity, purpose: Purpose,
                  limit: (max: Int, tooMany: FHIRError)? = nil) async throws(FHIRError) -> [(record: Hash256, patient: IdentityID)] {
        let found = try await apply(inner, to: try lookup(.exact(type), param: "_type"), requester: requester, purpose: purpose)
        var out: [(record: Hash256, patient: IdentityID)] = []
        for record in found.sorted() {
            let decision = await access.decide(AccessRequest(requester: requester.id, record: record, purpose: purpose, action: .read))
            guard decision.isPermitted, let entry = decision.record, entry.resourceType == type else { continue }
            out.append((record, entry.patient))
            if let limit, out.count > limit.max { throw limit.tooMany }
        }
        return out
    }

    /// Most resources `_revinclude` adds to one page.
    public static let revincludedMax = 1_000

    /// `_revinclude`: the resources of each named type in the compartment of every matched
    /// Patient (and, with `:iterate`, of every included one), read like any include: through
    /// logged decisions, leaving out those the requester may not read.
    func revincluded(_ revincludes: [(type: String, element: String, iterate: Bool)], matches: [FHIRVersion], included: [FHIRVersion],
                     requester: Identity, purpose: Purpose) async throws(FHIRError) -> [FHIRVersion] {
        var seen = Set((matches + included).map { recordID(type: $0.type, id: $0.id) })
        var targets: [Hash256] = []
        for revinclude in revincludes {
            for source in (revinclude.iterate ? matches + included : matches) where source.type == "Patient" {
                let records: [Hash256]
                do { records = try access.vault.records(patient: source.entry.patient, limit: Self.revincludedMax + 1).sorted() } catch {
                    throw FHIRError(500, "exception", "index lookup failed: \(error)")
                }
                for record in records where RecordIndex.current(record, in: state)?.resourceType == revinclude.type && seen.insert(record).inserted {
                    targets.append(record)
                }
                guard targets.count <= Self.revincludedMax else {
                    throw FHIRError(400, "too-costly", "_revinclude would add more than \(Self.revincludedMax) resources; page with a smaller _count")
                }
            }
        }
        return try await serveAll(targets, requester: requester, purpose: purpose, skipDenied: true)
    }

    /// Narrows `candidates` by one criterion (plain, modified or chained).
    public func apply(_ criterion: SearchQuery.Criterion, to candidates: Set<Hash256>, requester: Identity,
               purpose: Purpose) async throws(FHIRError) -> Set<Hash256> {
        let parameter = criterion.parameter
        if let has = criterion.has, let inner = has.inner.first {
            return try await reverseChain(has.type, inner, candidates: candidates, requester: requester, purpose: purpose)
        }
        if let chain = criterion.chain, let inner = chain.inner.first {
            // The inner search runs like any search: only Patients the requester may read count.
            let tooMany = FHIRError(400, "too-costly",
                                    "the chained search \(parameter.name).\(inner.parameter.name) matches more than \(Self.chainTargetsMax) patients; narrow it")
            let pseudonyms = try await readable(chain.type, matching: inner, requester: requester, purpose: purpose,
                                                limit: (Self.chainTargetsMax, tooMany)).map(\.patient)
            var referring = Set<Hash256>()
            for pseudonym in pseudonyms {
                do { referring.formUnion(try access.vault.records(patient: pseudonym, limit: searchLimits.indexCandidatesMax + 1)) } catch {
                    throw FHIRError(500, "exception", "index lookup failed: \(error)")
                }
                guard referring.count <= searchLimits.indexCandidatesMax else {
                    throw FHIRError(400, "too-costly", "more than \(searchLimits.indexCandidatesMax) candidates for the chained \(parameter.name); narrow the search")
                }
            }
            return candidates.intersection(referring)
        }
        switch criterion.modifier {
        case .missing(let missing):
            let present: Set<Hash256>
            switch parameter.target {
            case .blind(let field):
                let found: [Hash256]
                do { found = try access.records(withAny: field, scope: parameter.name, limit: searchLimits.indexCandidatesMax) } catch { throw Self.map(error) }
                guard found.count < searchLimits.indexCandidatesMax else {
                    throw FHIRError(400, "too-costly", "\(parameter.name):missing needs more than \(searchLimits.indexCandidatesMax - 1) records; narrow the search first")
                }
                present = Set(found)
            case .patient:
                present = Set(candidates.filter { RecordIndex.current($0, in: state).map { $0.patient != RecordEntry.noPatient } ?? false })
            case .value:
                var found = Set<Hash256>()
                for name in parameter.parts.isEmpty ? [parameter.name] : parameter.parts.map(\.name) {
                    found.formUnion(try indexedValues(name, for: candidates).keys)
                }
                present = found
            }
            return missing ? candidates.subtracting(present) : candidates.intersection(present)
        case .not:
            var excluded = Set<Hash256>()
            for value in criterion.values { excluded.formUnion(try lookup(value, parameter)) }
            return candidates.subtracting(excluded)
        default:
            var union = Set<Hash256>()
            for value in criterion.values { union.formUnion(try lookup(value, parameter, modifier: criterion.modifier)) }
            return candidates.intersection(union)
        }
    }

    /// The indexed values of `param` for the given records (a bounded candidate set).
    public func indexedValues(_ param: String, for records: some Collection<Hash256>) throws(FHIRError) -> [Hash256: [String]] {
        do { return try access.sortValues(param: param, records: Array(records)) } catch {
            throw FHIRError(500, "exception", "index lookup failed: \(error)")
        }
    }

    /// Orders permitted records by `_sort` keys (empty: newest first); ties by logical id, then record id.
    /// Records with no value for a date key sort last in either direction; a record with several
    /// values sorts by its earliest ascending and its latest descending (FHIR R4 §3.1.1.4.7).
    public func sorted(_ permitted: [(record: Hash256, timeMs: Int64)], by keys: [SearchQuery.SortKey]) throws(FHIRError) -> [(record: Hash256, timeMs: Int64)] {
        let keys = keys.isEmpty ? [SearchQuery.SortKey(parameter: "_lastUpdated", descending: true)] : keys
        let records = permitted.map(\.record)
        let ids = try indexedValues("_id", for: records)
        var columns: [[Hash256: [String]]] = []
        for key in keys where key.parameter != "_lastUpdated" {
            if key.parameter == "_id" { columns.append(ids); continue }
            var column: [Hash256: [String]] = [:]
            for name in key.stored { column.merge(try indexedValues(name, for: records)) { $0 + $1 } }
            columns.append(column)
        }
        func compare(_ a: String?, _ b: String?, descending: Bool) -> Bool? {
            switch (a, b) {
            case (nil, nil): return nil
            case (nil, _): return false
            case (_, nil): return true
            case let (a?, b?): return a == b ? nil : (descending ? a > b : a < b)
            }
        }
        return permitted.sorted { lhs, rhs in
            var column = 0
            for key in keys {
                if key.parameter == "_lastUpdated" {
                    if lhs.timeMs != rhs.timeMs { return key.descending ? lhs.timeMs > rhs.timeMs : lhs.timeMs < rhs.timeMs }
                    continue
                }
                let values = columns[column]
                column += 1
                let pick: ([String]?) -> String? = { key.descending ? $0?.max() : $0?.min() }
                if let order = compare(pick(values[lhs.record]), pick(values[rhs.record]), descending: key.descending) { return order }
            }
            if let order = compare(ids[lhs.record]?.first, ids[rhs.record]?.first, descending: false) { return order }
            return lhs.record < rhs.record
        }
    }

    /// Patient/{id}/$everything: the patient and every record of theirs the requester may read,
    /// plus the directory resources (practitioners, organizations, …) those records reference.
    public func everything(patientID: String, requester: Identity, purpose: Purpose) async throws(FHIRError) -> [FHIRVersion] {
        // The patient record itself decides whether the requester may see this patient at all
        // (a Patient they may not read is "not known", like a missing one).
        let patient = try await read(type: "Patient", id: patientID, requester: requester, purpose: purpose).entry
        var candidates: [Hash256]
        do { candidates = try access.vault.records(patient: patient.patient, limit: searchLimits.matchesMax + 1) } catch {
            throw FHIRError(500, "exception", "index lookup failed: \(error)")
        }
        guard candidates.count <= searchLimits.matchesMax else {
            throw FHIRError(400, "too-costly", "the patient has more than \(searchLimits.matchesMax) records; use $export")
        }
        var permitted: [Hash256] = []
        for record in candidates {
            let decision = await access.decide(AccessRequest(requester: requester.id, record: record, purpose: purpose, action: .read))
            if decision.isPermitted { permitted.append(record) }
        }
        var out = try await serveAll(permitted, requester: requester, purpose: purpose, skipDenied: true)
        var seen = Set(permitted)
        var referenced: [Hash256] = []
        for version in out {
            for reference in Self.allReferences(version.resource) {
                guard let parsed = FHIRJSON.parseReference(reference), RecordsContract.directoryResourceTypes.contains(parsed.type) else { continue }
                let record = recordID(type: parsed.type, id: parsed.id)
                if seen.insert(record).inserted { referenced.append(record) }
            }
        }
        out += try await serveAll(referenced, requester: requester, purpose: purpose, skipDenied: true)
        return out
    }

    /// Type history: versions of the type's resources, newest first, the page `query` asks for
    /// after `_since`, each read through a logged decision (resources the requester may not read
    /// are left out, and not counted in the total).
    public func typeHistory(type: String, query: HistoryQuery, requester: Identity,
                            purpose: Purpose) async throws(FHIRError) -> (total: Int, versions: [FHIRVersion]) {
        let candidates = try lookup(SearchQuery.Value.exact(type), param: "_type")
        var versions: [(record: Hash256, version: UInt64, timeMs: Int64)] = []
        for record in candidates {
            guard let current = RecordIndex.current(record, in: state), !current.isErased, current.resourceType == type else { continue }
            let decision = await access.decide(AccessRequest(requester: requester.id, record: record, purpose: purpose, action: .read))
            guard decision.isPermitted else { continue }
            for version in 1...current.version {
                let entry = version == current.version ? current : RecordIndex.version(record, version, in: state)
                if let entry { versions.append((record, version, entry.timeMs)) }
            }
        }
        versions.sort { ($0.timeMs, $0.version) > ($1.timeMs, $1.version) }
        let (total, page) = query.page(versions, timeMs: \.timeMs)
        var out: [FHIRVersion] = []
        for item in page {
            let served: [ServedRecord]
            do {
                served = try await access.serve([AccessRequest(requester: requester.id, record: item.record, purpose: purpose, action: .read)],
                                                versions: [item.record: item.version])
            } catch { throw Self.map(error) }
            guard let one = served.first, one.decision.isPermitted, let entry = one.entry, let content = one.content,
                  let resource = try? FHIRJSON.object(content), let id = resource["id"] as? String else { continue }
            out.append(FHIRVersion(resource: resource, type: type, id: id, version: entry.version, lastUpdatedMs: entry.timeMs, entry: entry))
        }
        return (total, out)
    }

    /// Reads records through one logged batch of decisions.
    public func serveAll(_ records: [Hash256], requester: Identity, purpose: Purpose, skipDenied: Bool = false) async throws(FHIRError) -> [FHIRVersion] {
        guard !records.isEmpty else { return [] }
        let served: [ServedRecord]
        do {
            served = try await access.serve(records.map { AccessRequest(requester: requester.id, record: $0, purpose: purpose, action: .read) })
        } catch { throw Self.map(error) }
        var out: [FHIRVersion] = []
        for one in served {
            guard let entry = one.entry, one.decision.isPermitted, let content = one.content else {
                if skipDenied { continue }
                throw .forbidden("a search result became unreadable while the search ran; retry")
            }
            guard let resource = try? FHIRJSON.object(content), let id = resource["id"] as? String else { continue }
            out.append(FHIRVersion(resource: resource, type: entry.resourceType, id: id, version: entry.version, lastUpdatedMs: entry.timeMs, entry: entry))
        }
        return out
    }

    /// Records matching one value of one criterion.
    public func lookup(_ value: SearchQuery.Value, _ parameter: SearchParameter, modifier: SearchQuery.Modifier = .none) throws(FHIRError) -> Set<Hash256> {
        // A parameter answered from its parts (`combo-code` from `code` and `component-code`).
        if !parameter.parts.isEmpty {
            var out = Set<Hash256>()
            for part in parameter.parts { out.formUnion(try lookup(value.forRows(of: part.name, insteadOf: parameter.name), part, modifier: modifier)) }
            return out
        }
        if case .reference(let type, let id) = value, parameter.kind == .reference {
            // A patient reference finds the patient's records; any other is a stored `Type/id`
            // (an id alone: under each type the parameter may point to).
            var out = Set<Hash256>()
            for target in type.map({ [$0] }) ?? (parameter.targets.isEmpty ? FHIRResourceTypes.all.sorted() : parameter.targets) {
                if target == "Patient", parameter.target == .patient {
                    out.formUnion(try lookup(.reference(type: "Patient", id: id), param: parameter.name))
                } else {
                    out.formUnion(try lookup(.exact(target + "/" + id), param: parameter.name))
                }
            }
            return out
        }
        // Blind lookups: the parameter's own tokens (a code's text and a reference's identifier have theirs).
        let blind: (field: IdentifierField, scope: String, match: BlindMatch)?
        switch (modifier, parameter.target) {
        case (.text, _): blind = (.name, parameter.name + ":text", .text)
        case (.identifier, _): blind = (.identifier, parameter.name + ":identifier", .word)
        case (.exact, .blind(let field)): blind = (field, parameter.name, .exact)
        case (.contains, .blind(let field)): blind = (field, parameter.name, .contains)
        case (_, .blind(let field)): blind = (field, parameter.name, parameter.kind == .string ? .prefix : .word)
        default: blind = nil
        }
        return try lookup(value, param: parameter.name, blind: blind)
    }

    public func lookup(_ value: SearchQuery.Value, param: String, blind: (field: IdentifierField, scope: String, match: BlindMatch)? = nil)
        throws(FHIRError) -> Set<Hash256> {
        let limit = searchLimits.indexCandidatesMax + 1
        let found: [Hash256]
        var scanned = 0
        do {
            switch value {
            case .exact(let text): found = try access.vault.records(param: param, value: text, limit: limit)
            case .anyExact(let texts):
                var out = Set<Hash256>()
                for text in texts { out.formUnion(try access.vault.records(param: param, value: text, limit: limit)) }
                found = Array(out)
            case .blindDate(let prefix, let lo, let hi):
                guard let blind else { return [] }
                found = try access.search(blind.field, prefix: prefix, lo: lo, hi: hi, scope: blind.scope, limit: limit)
            case .words(let text):
                guard let blind else { return [] }
                found = try access.search(blind.field, text, match: blind.match, scope: blind.scope, limit: limit)
            case .rows(let match):
                // Each scan is bounded like any lookup: past the limit the search is refused below.
                var out = Set<Hash256>()
                for scan in match.scans where out.count < limit {
                    let rows = try access.vault.entries(param: scan.param, from: scan.from, to: scan.to, limit: limit)
                    if rows.count == limit { scanned = limit }
                    for row in rows where match.test.matches(Substring(row.value), reversed: scan.reversed) { out.insert(row.record) }
                }
                found = Array(out)
            case .reference(let type, let id):
                guard type == nil || type == "Patient",
                      let patient = RecordIndex.current(recordID(type: "Patient", id: id), in: state), !patient.isErased else { return [] }
                found = try access.vault.records(patient: patient.patient, limit: limit)
            }
        } catch { throw FHIRError(500, "exception", "index lookup failed: \(error)") }
        guard found.count <= searchLimits.indexCandidatesMax, scanned <= searchLimits.indexCandidatesMax else {
            throw FHIRError(400, "too-costly", "more than \(searchLimits.indexCandidatesMax) records match \(param) before consent; narrow the search")
        }
        return Set(found)
    }

    /// The reference strings held by an element (a Reference, or a list of them).
    public static func references(in resource: [String: Any], element: String) -> [String] {
        let value = resource[element]
        let objects = (value as? [Any])?.compactMap { $0 as? [String: Any] } ?? ((value as? [String: Any]).map { [$0] } ?? [])
        return objects.compactMap { $0["reference"] as? String }
    }
}
