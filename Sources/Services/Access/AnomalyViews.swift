public import Contracts
import LedgerCore
public import Node
import Storage

/// The access-anomaly alerts at a node, as `AccessService.accessAnomalies` computed them.
public struct AnomalyReport: Sendable {
    /// The head block's time and height: the evaluation's "now".
    public let nowMs: Int64
    public let height: UInt64
    public let thresholds: AnomalyThresholds
    /// Access-log entries read (at most `AccessService.anomalyEntriesScannedMax`).
    public let scanned: Int
    /// Entries inside the lookback and the reader's scope: what the rules ran over.
    public let considered: Int
    /// True when the log holds older entries inside the lookback that were not read.
    public let truncated: Bool
    /// The alerts, at most `AccessService.anomalyAlertsMax`.
    public let alerts: [AccessAnomaly]
    /// How many alerts the rules raised (more than `alerts.count` when capped).
    public let alertsTotal: Int

    /// The JSON both adapters answer with: ids, codes, counts and log indexes; no PHI.
    public var json: JSONObject {
        [
            "now_ms": nowMs, "height": height, "scanned": scanned, "considered": considered, "truncated": truncated,
            "alerts_total": alertsTotal,
            "thresholds": Dictionary(uniqueKeysWithValues: thresholds.settings.map { ($0.name, $0.value) }),
            "alerts": alerts.map { alert -> JSONObject in
                var out: JSONObject = [
                    "rule": alert.rule.rawValue, "member": alert.requester.hex, "roles": alert.requesterInfo.roles.map(\.rawValue),
                    "window": ["start_ms": alert.windowStartMs, "end_ms": alert.windowEndMs], "count": alert.count, "threshold": alert.threshold,
                    "evidence_total": alert.evidenceTotal,
                    "evidence": alert.evidence.map { ["index": $0.index, "time_ms": $0.timeMs, "outcome": $0.outcome.rawValue, "reason": $0.reason.rawValue] },
                ]
                if let organization = alert.requesterInfo.organization { out["organization"] = organization.hex }
                if let kind = alert.requesterInfo.kind { out["kind"] = kind.rawValue }
                if let b = alert.baselines {
                    var baselines: JSONObject = ["own_windows": b.ownWindows, "role": b.roleKey, "role_samples": b.roleSamples, "exceeded": b.exceeded]
                    if let own = b.ownMedian { baselines["own_median"] = own }
                    if let role = b.roleMedian { baselines["role_median"] = role }
                    out["baselines"] = baselines
                }
                return out
            },
        ]
    }
}

extension AccessService {
    /// Most access-log entries one evaluation reads (the newest ones).
    public static let anomalyEntriesScannedMax = 200_000
    /// Most alerts one evaluation returns.
    public static let anomalyAlertsMax = 1_000
    /// Most records of one patient read to find their authors (the authorship relationship).
    public static let anomalyPatientRecordsMax = 1_000
    /// Entries read per page, newest pages first.
    static let anomalyPageEntries = 10_000

    /// The access-anomaly alerts over this node's access log at the head block's time. `requester`
    /// nil is the node's operator (the CLI over its own data directory), who sees every entry;
    /// otherwise a custodian held here, its auditors or admins (`ReadRules.isCustodianAuditor`),
    /// over the entries about their own organization's records (`ReadRules.mayReadAccessLogEntry`).
    public func accessAnomalies(as requester: Identity?, thresholds: AnomalyThresholds = .init()) async throws(ServiceError) -> AnomalyReport {
        let state = node.state
        try checkMayReadAnomalies(requester)
        let head = await node.headHeader
        let now = head.timeMs
        let since = now - thresholds.lookbackMs

        // Newest pages first, until a page starts before the lookback or the scan limit.
        var scanned: [(index: UInt64, entry: AuditEntry)] = []
        var truncated = false
        do {
            var end = try auditSize()
            while end > 0 {
                guard scanned.count < Self.anomalyEntriesScannedMax else { truncated = true; break }
                let count = UInt64(min(Self.anomalyPageEntries, Self.anomalyEntriesScannedMax - scanned.count))
                let start = end > count ? end - count : 0
                let page = try auditEntries(from: start, limit: Int(end - start))
                scanned.insert(contentsOf: page, at: 0)
                end = start
                if let first = page.first, first.entry.timeMs < since { break }
            }
        } catch { throw ServiceError(.unavailable, "the audit log cannot be read: \(error)") }

        var inputs: [AnomalyInput] = []
        var requesters: [IdentityID: AnomalyRequester] = [:]
        var authors: [IdentityID: Set<IdentityID>] = [:]
        var related: [PairKey: Bool] = [:]
        for (index, entry) in scanned where entry.timeMs >= since {
            if let requester, !ReadRules.mayReadAccessLogEntry(about: entry.record, of: entry.patient, requester, state) { continue }
            let identity = Directory.identity(entry.requester, in: state)
            if requesters[entry.requester] == nil {
                requesters[entry.requester] = AnomalyRequester(
                    organization: identity.flatMap(ReadRules.organization(of:)), kind: identity?.kind,
                    roles: identity.map { Array(Directory.effectiveRoles(of: $0, in: state)) } ?? [])
            }
            var input = AnomalyInput(index: index, timeMs: entry.timeMs, requester: entry.requester, patient: entry.patient, outcome: entry.outcome,
                                     reason: entry.reason, namedConsent: entry.consent != nil)
            // The ledger's other evidence of a relationship, looked up only where rule (a) needs it.
            if entry.timeMs >= now - thresholds.relationshipWindowMs, entry.patient != .zero, let identity,
               !AccessAnomalies.isExplained(input, thresholds) {
                let key = PairKey(requester: entry.requester, patient: entry.patient)
                if let known = related[key] {
                    input.relationship = known
                } else {
                    if authors[entry.patient] == nil { authors[entry.patient] = try recordAuthors(of: entry.patient) }
                    let found = authors[entry.patient]!.contains(entry.requester)
                        || ConsentIndex.isPatientSide(entry.requester, of: entry.patient, in: state)
                        || ConsentPolicy.consentNames(identity, patient: entry.patient, in: state)
                        || ConsentIndex.breakGlass(patient: entry.patient, requester: entry.requester, in: state) != nil
                    related[key] = found
                    input.relationship = found
                }
            }
            inputs.append(input)
        }
        let alerts = AccessAnomalies.evaluate(inputs, requesters: requesters, nowMs: now, thresholds: thresholds)
        return AnomalyReport(nowMs: now, height: head.height, thresholds: thresholds, scanned: scanned.count, considered: inputs.count,
                             truncated: truncated, alerts: Array(alerts.prefix(Self.anomalyAlertsMax)), alertsTotal: alerts.count)
    }

    /// `accessAnomalies` with thresholds set by name from text (`AnomalyThresholds.set`), as the CLI
    /// and the HTTP API receive them; who may ask is checked before any of them is read.
    public func accessAnomalies(as requester: Identity?, settings: [(name: String, value: String)]) async throws(ServiceError) -> AnomalyReport {
        try checkMayReadAnomalies(requester)
        var thresholds = AnomalyThresholds()
        for setting in settings { try thresholds.set(setting.name, setting.value) }
        return try await accessAnomalies(as: requester, thresholds: thresholds)
    }

    private func checkMayReadAnomalies(_ requester: Identity?) throws(ServiceError) {
        if let requester, !ReadRules.isCustodianAuditor(requester, custodians: Set(custodianIDs), node.state) {
            throw .forbidden("only a custodian held by this node, its auditors and its admins read access-anomaly alerts")
        }
    }

    private struct PairKey: Hashable { let requester: IdentityID; let patient: IdentityID }

    /// Everyone who wrote a version of one of the patient's records (at most `anomalyPatientRecordsMax` records).
    private func recordAuthors(of patient: IdentityID) throws(ServiceError) -> Set<IdentityID> {
        let prefix = RecordIndex.patientPrefix(patient)
        let rows: [(key: String, value: [UInt8])]
        do { rows = try node.store.states(prefix: prefix, after: nil, limit: Self.anomalyPatientRecordsMax) } catch {
            throw ServiceError(.unavailable, "the ledger store cannot be read: \(error)")
        }
        var out = Set<IdentityID>()
        for row in rows {
            guard let record = Hash256(hex: String(row.key.dropFirst(prefix.count))) else { continue }
            for version in RecordIndex.history(record, in: node.state) { out.insert(version.author) }
        }
        return out
    }
}
