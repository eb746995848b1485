import Contracts
import LedgerCore
import Node
import Storage
import Vault

/// The invariants, checked after every round, and the reads whose releases they cover.
extension Simulator {
    /// Everything that must hold whatever the faults:
    /// 1. every acknowledged transaction is durable, where and with the result acknowledged;
    /// 2. the disk's chain replays from genesis (`ChainVerifier`: links, signatures, roots,
    ///    re-execution to the same results and state roots), and its state is the replayed state;
    /// 3. a healthy node is at the disk's head and serves exactly the replayed state (no stale or
    ///    lost cache entry, even after a restart);
    /// 4. no record content was released without a permit entry for it in the audit log.
    func check() async throws {
        for acked in acknowledged {
            let found: TransactionLocation?
            do { found = try disk.location(of: acked.id) } catch { throw SimulationFailure("reading the disk: \(error)") }
            guard let found else {
                throw SimulationFailure("acknowledged \(acked.label) \(acked.id.hex) (block \(acked.location.height)) is not on the disk")
            }
            guard found == acked.location else {
                throw SimulationFailure("acknowledged \(acked.label) \(acked.id.hex) is on the disk at block \(found.height) with "
                                        + "\(found.result.code), not block \(acked.location.height) with \(acked.location.result.code)")
            }
        }

        try checker.sync(with: disk)
        let replayed = checker.state.values
        var stored = 0
        var mismatch: String?
        try disk.forEachState { key, value, _ in
            stored += 1
            if mismatch == nil, replayed[key] != value { mismatch = key }
        }
        if let mismatch { throw SimulationFailure("the disk's state of \(mismatch) differs from the chain replayed from genesis") }
        guard stored == replayed.count else {
            throw SimulationFailure("the disk holds \(stored) state entries; the chain replayed from genesis has \(replayed.count)")
        }

        if await node.failureError == nil {
            let head = await node.headHeader
            guard head == (try disk.head()) else { throw SimulationFailure("the node's head (block \(head.height)) is not the disk's") }
            for key in checker.keysEverWritten.sorted() where node.state.value(for: key) != replayed[key] {
                throw SimulationFailure("the node serves a value of \(key) that differs from the chain replayed from genesis")
            }
        }

        for release in releases { try checkAudited(release) }
    }

    /// The audit entry a release names permits exactly that release.
    func checkAudited(_ release: Release) throws {
        guard let stored = try vault.inner.auditEntry(release.auditIndex), let entry = AuditEntry(decoding: stored.bytes) else {
            throw SimulationFailure("record \(release.record.hex) was released with no audit entry at index \(release.auditIndex)")
        }
        guard entry.outcome != .deny, entry.requester == release.requester, entry.record == release.record, entry.version == release.version else {
            throw SimulationFailure("record \(release.record.hex) v\(release.version) was released to \(release.requester.hex) but audit entry "
                                    + "\(release.auditIndex) says \(entry.outcome.rawValue) for \(entry.requester.hex), record \(entry.record.hex) v\(entry.version)")
        }
    }

    /// Verifies the whole disk with the library's `ChainAudit` (what `careledger verify` runs):
    /// the chain, and the transaction index, log nodes and state derived from it.
    func audit(_ when: String) throws {
        do {
            guard case .failure(let error) = try ChainAudit.run(store: disk) else { return }
            throw SimulationFailure("the disk does not verify after \(when): \(error)")
        } catch let failure as SimulationFailure {
            throw failure
        } catch {
            throw SimulationFailure("verifying the disk after \(when): \(error)")
        }
    }

    // MARK: reads

    /// Random reads through the access service, each compared with the decision the replayed
    /// state gives (an independent copy of the ledger), and a check that anchored audit entries
    /// prove against their on-chain anchor.
    func readRecords(_ fault: Fault) async throws {
        guard !world.records.isEmpty else { return }
        // The round's commits are in; the replayed copy must include them to decide alike.
        try checker.sync(with: disk)
        let purposes: [Purpose] = [.treatment, .treatment, .emergencyTreatment, .research, .payment]
        var requests: [(request: AccessRequest, keys: IdentityKeys)] = []
        for _ in 0..<rng.within(0...Self.readsPerRoundMax) {
            let record = rng.pick(world.records)
            let requester = rng.pick(world.requesters)
            requests.append((AccessRequest(requester: requester.derivedID, record: record.id, purpose: rng.pick(purposes), action: .read), requester))
        }
        let nowMs = clock.nowMs()
        let height = node.height + 1
        if rng.chance(30) {
            try await serve(requests.map(\.request), fault: fault, nowMs: nowMs, height: height)
        } else {
            for (request, keys) in requests { try await read(request, keys: keys, fault: fault, nowMs: nowMs, height: height) }
        }
        try checkAnchoredAuditProof()
    }

    /// The patient-facing path: the record re-wrapped for the requester.
    private func read(_ request: AccessRequest, keys: IdentityKeys, fault: Fault, nowMs: Int64, height: UInt64) async throws {
        let expected = ConsentPolicy.decide(request, in: checker.state, nowMs: nowMs, height: height)
        do {
            let release = try await access.read(request)
            guard expected.isPermitted, release.decision.outcome == expected.outcome else {
                throw SimulationFailure("record \(request.record.hex) was released to \(request.requester.hex) (\(release.decision.reason.rawValue)) "
                                        + "though the replayed chain decides \(expected.outcome.rawValue) (\(expected.reason.rawValue))")
            }
            let content: [UInt8]
            do { content = try release.open(as: request.requester, with: keys) } catch {
                throw SimulationFailure("a released record does not open for its requester: \(error)")
            }
            try released(content, request: request, version: release.entry.version, auditIndex: release.auditIndex)
            log("  read \(request.purpose.rawValue): released (\(release.decision.reason.rawValue))")
        } catch let error as AccessError {
            try refused(error, request: request, expected: expected, fault: fault)
        }
    }

    /// The custodian's own path: decisions in one audited batch, then plaintext.
    private func serve(_ requests: [AccessRequest], fault: Fault, nowMs: Int64, height: UInt64) async throws {
        guard !requests.isEmpty else { return }
        let served: [ServedRecord]
        do { served = try await access.serve(requests) } catch {
            let expected = ConsentPolicy.decide(requests[0], in: checker.state, nowMs: nowMs, height: height)
            return try refused(error, request: requests[0], expected: expected, fault: fault, batch: true)
        }
        for item in served {
            let expected = ConsentPolicy.decide(item.request, in: checker.state, nowMs: nowMs, height: height)
            guard item.decision.outcome == expected.outcome, item.decision.reason == expected.reason else {
                throw SimulationFailure("serve decided \(item.decision.outcome.rawValue) (\(item.decision.reason.rawValue)) for record "
                                        + "\(item.request.record.hex); the replayed chain decides \(expected.outcome.rawValue) (\(expected.reason.rawValue))")
            }
            if let content = item.content, let entry = item.entry {
                try released(content, request: item.request, version: entry.version, auditIndex: item.auditIndex)
                log("  serve \(item.request.purpose.rawValue): released (\(item.decision.reason.rawValue))")
            } else {
                guard !item.decision.isPermitted else { throw SimulationFailure("serve permitted record \(item.request.record.hex) but released nothing") }
                log("  serve \(item.request.purpose.rawValue): denied (\(item.decision.reason.rawValue))")
            }
        }
    }

    /// A release: the content is what was written for that version, and the audit log permits it.
    private func released(_ content: [UInt8], request: AccessRequest, version: UInt64, auditIndex: UInt64) throws {
        guard content == world.contents[RecordVersionKey(record: request.record, version: version)] else {
            throw SimulationFailure("record \(request.record.hex) v\(version) was released with content other than what was written")
        }
        let release = Release(auditIndex: auditIndex, requester: request.requester, record: request.record, version: version)
        try checkAudited(release)
        releases.append(release)
        stats.released += 1
    }

    /// A refused read: denied exactly as the replayed chain decides, or refused for the injected fault.
    private func refused(_ error: AccessError, request: AccessRequest, expected: Decision, fault: Fault, batch: Bool = false) throws {
        switch error {
        case .denied(let decision) where !batch:
            guard !expected.isPermitted, decision.reason == expected.reason else {
                throw SimulationFailure("record \(request.record.hex) was denied to \(request.requester.hex) (\(decision.reason.rawValue)) "
                                        + "though the replayed chain decides \(expected.outcome.rawValue) (\(expected.reason.rawValue))")
            }
            log("  read \(request.purpose.rawValue): denied (\(decision.reason.rawValue))")
            stats.denied += 1
        case .auditUnavailable where fault == .auditFails:
            log("  read refused: the audit log is down")
        case .storage where fault == .stateReadsFail:
            log("  read refused: a state read failed")
        default:
            throw SimulationFailure("a read of record \(request.record.hex) failed unexpectedly (\(fault)): \(error)")
        }
    }

    /// An audit entry below the hospital's latest anchor proves against that anchor.
    private func checkAnchoredAuditProof() throws {
        guard let anchor = AuditContract.head(of: Cast.hospital.derivedID, in: checker.state) else { return }
        let index = UInt64(rng.below(Int(anchor.size)))
        do {
            let proof = try access.auditProof(index: index, anchorer: Cast.hospital.derivedID)
            try proof.verify()
        } catch {
            throw SimulationFailure("audit entry \(index) does not prove against the anchor of size \(anchor.size): \(error)")
        }
    }
}

/// What a run did, for the one-line summary and the coverage test.
struct SimulationStats: CustomStringConvertible {
    var acceptedByContract: [String: Int] = [:]
    var committed = 0
    var rejectedInBlock = 0
    var refusedAtAdmission = 0
    var faults: [String: Int] = [:]
    var crashes = 0
    var restarts = 0
    var nodeStops = 0
    var lost = 0
    var released = 0
    var denied = 0
    var refusedByVault = 0

    mutating func committed(_ label: String, accepted: Bool) {
        committed += 1
        if accepted { acceptedByContract[String(label.prefix { $0 != "." }), default: 0] += 1 } else { rejectedInBlock += 1 }
    }

    mutating func refused(_ label: String) { refusedAtAdmission += 1 }

    mutating func count(_ fault: Fault) {
        if fault != .none { faults["\(fault)", default: 0] += 1 }
    }

    var description: String {
        "\(committed) transactions committed (\(committed - rejectedInBlock) accepted), \(refusedAtAdmission) refused at admission, "
            + "\(faults.values.reduce(0, +)) faults, \(crashes) crashes, \(restarts) restarts, \(nodeStops) node stops, \(lost) unacknowledged lost, "
            + "\(released) records released, \(denied) denied"
    }
}
