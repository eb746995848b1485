public import Contracts
public import LedgerCore

/// Access-anomaly alerts: rules over the access log that flag a requester who (a) reads many
/// patients with no care relationship, (b) reads far above their own or their role's usual rate,
/// (c) piles up denials, or (d) breaks the glass repeatedly. docs/security.md ("Access-anomaly
/// alerts") states each rule, its threshold, window, reason and blind spots.
///
/// `AccessAnomalies.evaluate` is a pure function of the entries, the requesters' directory facts,
/// the thresholds and `nowMs` (the head block's time): no clock, no I/O, the same answer on every
/// call. `AccessService.accessAnomalies` gathers its input; the CLI and the HTTP API call that.
public enum AnomalyRule: String, Sendable, CaseIterable, Comparable {
    /// (a) many distinct patients read with no care relationship.
    case noCareRelationship = "no-care-relationship"
    /// (b) reads far above the requester's own or their role's usual rate.
    case readRate = "read-rate"
    /// (c) many denials.
    case denials
    /// (d) break-glass on several patients.
    case repeatedBreakGlass = "repeated-break-glass"

    public static func < (lhs: AnomalyRule, rhs: AnomalyRule) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// The rules' thresholds and windows. The defaults are strict (they flag early); every one can be
/// set by name (`set(_:_:)`), the same names on the CLI (`--set NAME=VALUE`) and over HTTP (query
/// parameters).
public struct AnomalyThresholds: Sendable, Equatable {
    public static let minuteMs: Int64 = 60_000
    public static let dayMs: Int64 = 1_440 * minuteMs
    /// The longest window any rule may use.
    public static let windowMsMax: Int64 = 90 * dayMs

    // (a) no care relationship
    /// Flag at this many distinct patients read with no care relationship in the window.
    public var unrelatedPatients = 10
    public var relationshipWindowMs: Int64 = dayMs
    /// Whether the custodian's care-team permit (any clinician, nurse or emergency clinician of the
    /// custodian may read every patient it holds) counts as a care relationship by itself. Off by
    /// default: it is blanket access, the very access an insider snooping on patients uses.
    public var careTeamIsRelationship = false

    // (b) read rate
    public var rateWindowMs: Int64 = dayMs
    /// Windows of the same length before the current one that make the baselines.
    public var baselineWindows = 14
    /// A window with fewer reads is never flagged for rate.
    public var rateReadsMin = 30
    /// Flag above this multiple of the requester's own median (over their active baseline windows).
    public var ownMultiplier = 3
    /// Active baseline windows (at least one read) needed before the own median is used.
    public var ownWindowsMin = 3
    /// Flag above this multiple of the role's median (peers' active baseline windows).
    public var roleMultiplier = 5
    /// Peer windows needed before the role median is used.
    public var roleSamplesMin = 5
    /// Flag at this many reads in the window whatever the baselines (or when there are none).
    public var readsCeiling = 1_000

    // (c) denials
    public var denials = 10
    public var denialWindowMs: Int64 = dayMs

    // (d) repeated break-glass
    /// Flag at this many distinct patients read under break-glass in the window.
    public var breakGlassPatients = 3
    public var breakGlassWindowMs: Int64 = 7 * dayMs

    public init() {}

    /// How far back the rules look from `now`: the longest window, the rate rule's with its baselines.
    public var lookbackMs: Int64 {
        max(relationshipWindowMs, rateWindowMs * Int64(baselineWindows + 1), denialWindowMs, breakGlassWindowMs)
    }

    /// The settable names, each with its current value and what it means.
    public var settings: [(name: String, value: String, help: String)] {
        [
            ("unrelated-patients", "\(unrelatedPatients)", "(a) flag at this many distinct patients read with no care relationship"),
            ("relationship-window-min", "\(relationshipWindowMs / Self.minuteMs)", "(a) window, minutes"),
            ("care-team-is-relationship", "\(careTeamIsRelationship)", "(a) count the custodian's blanket care-team permit as a care relationship"),
            ("rate-window-min", "\(rateWindowMs / Self.minuteMs)", "(b) window, minutes"),
            ("baseline-windows", "\(baselineWindows)", "(b) earlier windows that make the baselines"),
            ("rate-reads-min", "\(rateReadsMin)", "(b) never flag a window with fewer reads"),
            ("own-multiplier", "\(ownMultiplier)", "(b) flag above this multiple of the requester's own median"),
            ("own-windows-min", "\(ownWindowsMin)", "(b) active baseline windows needed for the own median"),
            ("role-multiplier", "\(roleMultiplier)", "(b) flag above this multiple of the role's median"),
            ("role-samples-min", "\(roleSamplesMin)", "(b) peer windows needed for the role median"),
            ("reads-ceiling", "\(readsCeiling)", "(b) flag at this many reads whatever the baselines"),
            ("denials", "\(denials)", "(c) flag at this many denials"),
            ("denial-window-min", "\(denialWindowMs / Self.minuteMs)", "(c) window, minutes"),
            ("break-glass-patients", "\(breakGlassPatients)", "(d) flag at this many distinct patients read under break-glass"),
            ("break-glass-window-min", "\(breakGlassWindowMs / Self.minuteMs)", "(d) window, minutes"),
        ]
    }

    /// Sets one threshold by name from text (CLI `--set`, HTTP query parameters).
    public mutating func set(_ name: String, _ text: String) throws(ServiceError) {
        func count(_ range: ClosedRange<Int> = 1...1_000_000) throws(ServiceError) -> Int {
            guard let value = Int(text), range.contains(value) else {
                throw ServiceError("\(name) must be an integer in \(range.lowerBound)…\(range.upperBound), got “\(text.prefix(40))”")
            }
            return value
        }
        func window() throws(ServiceError) -> Int64 { Int64(try count(1...Int(Self.windowMsMax / Self.minuteMs))) * Self.minuteMs }
        switch name {
        case "unrelated-patients": unrelatedPatients = try count()
        case "relationship-window-min": relationshipWindowMs = try window()
        case "care-team-is-relationship":
            guard let value = Bool(text) else { throw ServiceError("\(name) must be true or false, got “\(text.prefix(40))”") }
            careTeamIsRelationship = value
        case "rate-window-min": rateWindowMs = try window()
        case "baseline-windows": baselineWindows = try count(1...90)
        case "rate-reads-min": rateReadsMin = try count()
        case "own-multiplier": ownMultiplier = try count(1...1_000)
        case "own-windows-min": ownWindowsMin = try count(1...90)
        case "role-multiplier": roleMultiplier = try count(1...1_000)
        case "role-samples-min": roleSamplesMin = try count()
        case "reads-ceiling": readsCeiling = try count()
        case "denials": denials = try count()
        case "denial-window-min": denialWindowMs = try window()
        case "break-glass-patients": breakGlassPatients = try count()
        case "break-glass-window-min": breakGlassWindowMs = try window()
        default:
            throw ServiceError("unknown threshold “\(name.prefix(40))”; use one of \(settings.map(\.name).joined(separator: ", "))")
        }
        guard rateWindowMs * Int64(baselineWindows + 1) <= Self.windowMsMax * 4 else {
            throw ServiceError("rate-window-min × (baseline-windows + 1) must be at most 360 days")
        }
    }
}

/// One access-log entry as the rules see it: ids, codes and what the ledger knows about the
/// requester's relationship with the patient. No record id, no content.
public struct AnomalyInput: Sendable, Equatable {
    /// The entry's index in the access log (the evidence an auditor looks up and proves).
    public var index: UInt64
    public var timeMs: Int64
    public var requester: IdentityID
    /// The patient's pseudonym; zero when the record was unknown (nothing to relate to).
    public var patient: IdentityID
    public var outcome: DecisionOutcome
    public var reason: DecisionReason
    /// The decision named a consent of the patient (the one that permitted, or the closest that failed).
    public var namedConsent: Bool
    /// The ledger holds other evidence of a relationship between requester and patient: the
    /// requester wrote one of the patient's records, is their delegate, holds an active consent
    /// of theirs (by member, organization or role) or a break-glass grant for them.
    public var relationship: Bool

    public init(index: UInt64, timeMs: Int64, requester: IdentityID, patient: IdentityID, outcome: DecisionOutcome, reason: DecisionReason,
                namedConsent: Bool = false, relationship: Bool = false) {
        (self.index, self.timeMs, self.requester, self.patient, self.outcome, self.reason) = (index, timeMs, requester, patient, outcome, reason)
        (self.namedConsent, self.relationship) = (namedConsent, relationship)
    }
}

/// What the directory says about a requester: their organization and effective roles.
public struct AnomalyRequester: Sendable, Equatable {
    public var organization: IdentityID?
    public var kind: IdentityKind?
    public var roles: [Role]

    public init(organization: IdentityID?, kind: IdentityKind?, roles: [Role]) {
        (self.organization, self.kind, self.roles) = (organization, kind, roles.sorted())
    }

    /// The peer group for the role baseline: the sorted effective roles, or the kind for identities without one.
    public var roleKey: String {
        if !roles.isEmpty { return roles.map(\.rawValue).joined(separator: "+") }
        return kind.map { "(\($0.rawValue))" } ?? "(unknown)"
    }
}

/// One alert: the rule, who, the window, the numbers that triggered it and the entries that show it.
public struct AccessAnomaly: Sendable, Equatable {
    /// One access-log entry behind an alert (its index and codes; no patient, no record).
    public struct Evidence: Sendable, Equatable {
        public var index: UInt64
        public var timeMs: Int64
        public var outcome: DecisionOutcome
        public var reason: DecisionReason
    }

    /// The baselines of the rate rule.
    public struct Baselines: Sendable, Equatable {
        /// The requester's own median reads per active baseline window, and how many such windows.
        public var ownMedian: Int?
        public var ownWindows: Int
        /// The peer group, its median reads per active baseline window, and how many such windows.
        public var roleKey: String
        public var roleMedian: Int?
        public var roleSamples: Int
        /// Which limits the count passed: "own", "role", "ceiling".
        public var exceeded: [String]
    }

    public var rule: AnomalyRule
    public var requester: IdentityID
    public var requesterInfo: AnomalyRequester
    public var windowStartMs: Int64
    public var windowEndMs: Int64
    /// What the rule counted: distinct patients (a, d), reads (b), denials (c).
    public var count: Int
    /// The smallest count that fires under these thresholds and baselines.
    public var threshold: Int
    public var baselines: Baselines?
    /// The entries behind the count, oldest first, at most `AccessAnomalies.evidenceMax`.
    public var evidence: [Evidence]
    public var evidenceTotal: Int
}

public enum AccessAnomalies {
    /// Most evidence entries one alert lists (`evidence_total` counts them all).
    public static let evidenceMax = 50

    /// Reasons whose decision itself found a relationship between requester and patient (or the
    /// emergency procedure, which rule (d) watches instead).
    public static let relationshipReasons: Set<DecisionReason> = [.patientSelf, .delegate, .author, .consent, .directoryResource, .breakGlass, .party]

    /// Whether an entry shows a care relationship (rule a).
    public static func isExplained(_ entry: AnomalyInput, _ thresholds: AnomalyThresholds) -> Bool {
        relationshipReasons.contains(entry.reason) || entry.namedConsent || entry.relationship
            || (thresholds.careTeamIsRelationship && entry.reason == .custodianCareTeam)
    }

    /// The lower median (the middle value; of two, the smaller): an integer, and robust to a few outliers.
    static func lowerMedian(_ values: [Int]) -> Int? {
        guard !values.isEmpty else { return nil }
        return values.sorted()[(values.count - 1) / 2]
    }

    /// The rules over `entries` at `nowMs`. Each rule's current window is [now − window, now] and
    /// also takes entries stamped after `nowMs` (reads since the head block). Alerts are in rule
    /// order, then requester id order.
    public static func evaluate(_ entries: [AnomalyInput], requesters: [IdentityID: AnomalyRequester], nowMs: Int64,
                                thresholds t: AnomalyThresholds) -> [AccessAnomaly] {
        let sorted = entries.sorted { $0.index < $1.index }
        let byRequester = Dictionary(grouping: sorted, by: \.requester)
        let newest = sorted.map(\.timeMs).max() ?? nowMs
        let endMs = max(nowMs, newest)
        func info(_ id: IdentityID) -> AnomalyRequester { requesters[id] ?? AnomalyRequester(organization: nil, kind: nil, roles: []) }
        func evidence(_ items: [AnomalyInput]) -> [AccessAnomaly.Evidence] {
            items.prefix(evidenceMax).map { .init(index: $0.index, timeMs: $0.timeMs, outcome: $0.outcome, reason: $0.reason) }
        }
        func alert(_ rule: AnomalyRule, _ id: IdentityID, windowMs: Int64, count: Int, threshold: Int, baselines: AccessAnomaly.Baselines? = nil,
                   _ items: [AnomalyInput]) -> AccessAnomaly {
            AccessAnomaly(rule: rule, requester: id, requesterInfo: info(id), windowStartMs: nowMs - windowMs, windowEndMs: endMs, count: count,
                          threshold: threshold, baselines: baselines, evidence: evidence(items), evidenceTotal: items.count)
        }

        // Rate baselines: reads per requester in each earlier window i (1…n) = [now − (i+1)w, now − iw).
        let w = t.rateWindowMs
        var activeWindows: [IdentityID: [Int]] = [:]
        for (id, items) in byRequester {
            var counts = Array(repeating: 0, count: t.baselineWindows)
            for entry in items where entry.timeMs < nowMs - w {
                let window = Int((nowMs - w - 1 - entry.timeMs) / w)
                if window < t.baselineWindows { counts[window] += 1 }
            }
            activeWindows[id] = counts.filter { $0 > 0 }
        }
        var peerSamples: [String: [(IdentityID, Int)]] = [:]
        for (id, counts) in activeWindows { peerSamples[info(id).roleKey, default: []] += counts.map { (id, $0) } }

        var alerts: [AccessAnomaly] = []
        for id in byRequester.keys.sorted() {
            let items = byRequester[id]!
            // (a) distinct patients read with no care relationship.
            let unexplained = items.filter {
                $0.timeMs >= nowMs - t.relationshipWindowMs && $0.patient != .zero && !isExplained($0, t)
            }
            let unrelated = Set(unexplained.map(\.patient)).count
            if unrelated >= t.unrelatedPatients {
                alerts.append(alert(.noCareRelationship, id, windowMs: t.relationshipWindowMs, count: unrelated, threshold: t.unrelatedPatients,
                                    unexplained))
            }

            // (b) reads in the window against the own and the role median.
            let reads = items.filter { $0.timeMs >= nowMs - w }
            let own = activeWindows[id] ?? []
            let ownMedian = own.count >= t.ownWindowsMin ? lowerMedian(own) : nil
            let key = info(id).roleKey
            let peers = (peerSamples[key] ?? []).filter { $0.0 != id }.map(\.1)
            let roleMedian = peers.count >= t.roleSamplesMin ? lowerMedian(peers) : nil
            var limits: [(String, Int)] = [("ceiling", t.readsCeiling)]
            if let ownMedian { limits.append(("own", max(t.rateReadsMin, t.ownMultiplier * ownMedian + 1))) }
            if let roleMedian { limits.append(("role", max(t.rateReadsMin, t.roleMultiplier * roleMedian + 1))) }
            let exceeded = limits.filter { reads.count >= $0.1 }
            if !exceeded.isEmpty {
                let baselines = AccessAnomaly.Baselines(ownMedian: ownMedian, ownWindows: own.count, roleKey: key, roleMedian: roleMedian,
                                                        roleSamples: peers.count, exceeded: exceeded.map(\.0).sorted())
                alerts.append(alert(.readRate, id, windowMs: w, count: reads.count, threshold: limits.map(\.1).min()!, baselines: baselines, reads))
            }

            // (c) denials.
            let denied = items.filter { $0.timeMs >= nowMs - t.denialWindowMs && $0.outcome == .deny }
            if denied.count >= t.denials {
                alerts.append(alert(.denials, id, windowMs: t.denialWindowMs, count: denied.count, threshold: t.denials, denied))
            }

            // (d) distinct patients read under break-glass.
            let broken = items.filter { $0.timeMs >= nowMs - t.breakGlassWindowMs && $0.outcome == .breakGlass }
            let brokenPatients = Set(broken.map(\.patient)).count
            if brokenPatients >= t.breakGlassPatients {
                alerts.append(alert(.repeatedBreakGlass, id, windowMs: t.breakGlassWindowMs, count: brokenPatients, threshold: t.breakGlassPatients,
                                    broken))
            }
        }
        return alerts.sorted { ($0.rule, $0.requester) < ($1.rule, $1.requester) }
    }
}
