import Contracts
import Foundation
import LedgerCore
import Node
import Ordering
import Services
import Storage
import Synchronization
import Testing
import Vault

/// Three organizations' nodes over one simulated ordered log: a hospital (provider), a payer and
/// a laboratory. The hospital submits a claim as a private call: its lines and diagnoses reach the
/// payer's node (fetched from the hospital's node with a request signed by the payer's key, and
/// checked against the chain), never the laboratory's; all three still hold the same chain.
@Suite("Private data: a claim's payload reaches only the provider's and the payer's nodes", .timeLimit(.minutes(3)))
struct PrivateDataTests {
    static let chainId = "private-data"
    static let genesisMs: Int64 = 1_800_000_000_000
    static let diagnosis = "E11.9"

    /// The three nodes, each with its own store, access log and link to its peers.
    final class Network: Sendable {
        let clock = ManualClock(startMs: PrivateDataTests.genesisMs + 1_000)
        let log = SimulatedLog()
        let sealing = IdentityKeys(seed: Array(repeating: 90, count: 32))
        let organizations: [IdentityKeys]
        let stores: [InMemoryLedgerStore]
        let nodes: [LedgerNode]
        let access: [AccessService]
        let orderers: [SimulatedLogOrderer]
        let links: [PeerLink]
        let endorsers: [Endorser]

        var hospital: IdentityKeys { organizations[0] }
        var payer: IdentityKeys { organizations[1] }
        var laboratory: IdentityKeys { organizations[2] }

        /// One node per founder, by seed, label and type (by default a hospital, a payer and a laboratory).
        init(founders spec: [(seed: UInt8, label: String, type: OrganizationType)] = [(91, "hospital", .hospital), (92, "payer", .payer),
                                                                                       (93, "laboratory", .laboratory)]) async throws {
            organizations = spec.map { IdentityKeys(seed: Array(repeating: $0.seed, count: 32)) }
            let founders = zip(spec, organizations).map { Founder(keys: $1, label: $0.label, type: $0.type) }
            let (_, genesis) = try Genesis.make(chainId: PrivateDataTests.chainId, founders: founders, ordererKeys: sealing,
                                                timeMs: PrivateDataTests.genesisMs)
            var stores: [InMemoryLedgerStore] = [], nodes: [LedgerNode] = [], access: [AccessService] = []
            var orderers: [SimulatedLogOrderer] = [], links: [PeerLink] = [], endorsers: [Endorser] = []
            let registry = PeerRegistry()
            for (index, organization) in organizations.enumerated() {
                let store = InMemoryLedgerStore()
                try store.commit(genesis)
                let made = Mutex<SimulatedLogOrderer?>(nil)
                let link = PeerLink(own: organization, registry: registry, clock: clock)
                let log = self.log
                let configuration = NodeConfiguration(
                    blockDelayMs: 5, commitWaitMs: 20_000,
                    makeOrderer: { head, position, _ in
                        let orderer = SimulatedLogOrderer(log: log, node: index, after: position, lastTimeMs: head.timeMs, limit: Int(position),
                                                          alreadyOrdered: { (try? store.location(of: $0)) != nil })
                        made.withLock { $0 = orderer }
                        return orderer
                    },
                    organizations: [organization.derivedID], privateDataSource: link)
                let node = try await LedgerNode(store: store, ordererKeys: sealing, configuration: configuration, clock: clock)
                let service = AccessService(node: node, vault: InMemoryVaultStore(), custodians: [organization],
                                            indexKey: try BlindIndexKey(secret: Array(repeating: UInt8(100 + index), count: 32)), clock: clock)
                let endorser = Endorser(organizationKeys: organization, peers: link)
                registry.add(organization.derivedID, node: node, access: service, endorser: endorser)
                endorsers.append(endorser)
                stores.append(store)
                nodes.append(node)
                access.append(service)
                orderers.append(made.withLock { $0! })
                links.append(link)
            }
            (self.stores, self.nodes, self.access, self.orderers, self.links, self.endorsers) = (stores, nodes, access, orderers, links, endorsers)
        }

        /// Submits through node `index` (endorsed first if it is an endorsed call), lands every handed
        /// batch in the log, lets every node read it, and waits until all have committed it.
        func commit(_ call: UnsignedCall, through index: Int) async throws -> Transaction {
            let tx = try await LedgerClient(node: nodes[index], endorser: endorsers[index]).sign(endorsing: call)
            let result = await nodes[index].submit([tx], payloads: call.payload.map { [tx.id: $0.encoded] } ?? [:])
            _ = try result[0].get()
            clock.advance(ms: 1_000)
            var rng = SplitMix64(seed: 1)
            _ = log.deliver(order: [index], lossPercent: 0, timeMs: clock.nowMs(), rng: &rng)
            for orderer in orderers { orderer.allow(upTo: log.count) }
            let deadline = ContinuousClock.now + .seconds(20)
            for (node, store) in zip(nodes, stores) {
                while try store.location(of: tx.id) == nil || node.height < (try store.head()?.height ?? 0) {
                    if let failure = await node.failureError { throw failure }
                    guard ContinuousClock.now < deadline else { throw NodeError.timedOut(tx.id, ms: 20_000) }
                    try await Task.sleep(for: .milliseconds(5))
                    // A node waiting to ask its peers again waits on this clock.
                    clock.advance(ms: 100)
                }
            }
            return tx
        }

        /// A patient who registers themselves through the hospital's node.
        func registerPatient(seed: UInt8) async throws -> IdentityKeys {
            let patient = IdentityKeys(seed: Array(repeating: seed, count: 32))
            _ = try await commit(UnsignedCall(patient, call: MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)), through: 0)
            return patient
        }

        func stop() async { for node in nodes { await node.stop() } }
    }

    /// Every node's answer to a payload request, by organization: the real responder
    /// (`PrivatePayloads.release`) over that node's own replica and access log.
    final class PeerRegistry: Sendable {
        private let entries = Mutex<[IdentityID: (LedgerNode, AccessService, Endorser)]>([:])
        func add(_ id: IdentityID, node: LedgerNode, access: AccessService, endorser: Endorser) {
            entries.withLock { $0[id] = (node, access, endorser) }
        }
        func peer(_ id: IdentityID) -> (LedgerNode, AccessService)? { entries.withLock { $0[id].map { ($0.0, $0.1) } } }
        func endorser(_ id: IdentityID) -> (LedgerNode, Endorser)? { entries.withLock { $0[id].map { ($0.0, $0.2) } } }
    }

    /// One node's way to its peers, signing requests with its organization's key; it can be told
    /// to answer with forged bytes first (a peer that lies).
    final class PeerLink: PrivateDataSource, EndorsementPeers {
        let own: IdentityKeys
        let registry: PeerRegistry
        let clock: ManualClock
        let forgedAnswers = Mutex(0)
        let refusals = Mutex<[String]>([])

        init(own: IdentityKeys, registry: PeerRegistry, clock: ManualClock) { (self.own, self.registry, self.clock) = (own, registry, clock) }

        /// The other node's own answer (`Endorser.answer`), as the peer route gives it once the
        /// request's signature is checked; counts the endorsements it was asked for.
        let endorsementsAsked = Mutex(0)
        /// Organizations whose nodes do not answer, and how many times a node first answers that its
        /// replica is at another height (409).
        let unreachable = Mutex<Set<IdentityID>>([])
        let conflictsFirst = Mutex(0)
        func endorse(_ request: EndorsementRequest, by organization: IdentityID) async throws -> [UInt8] {
            endorsementsAsked.withLock { $0 += 1 }
            if unreachable.withLock({ $0.contains(organization) }) { throw ServiceError(.unavailable, "connection refused") }
            if conflictsFirst.withLock({ left in defer { left = max(0, left - 1) }; return left > 0 }) {
                throw ServiceError(.conflict, "this node's replica gives another outcome (it may be at another height); simulate again")
            }
            guard let (node, endorser) = registry.endorser(organization) else { throw ServiceError(.unavailable, "no node") }
            return try await endorser.answer(request, from: own.derivedID, node: node, nowMs: clock.nowMs())
        }

        func fetch(_ id: Hash256, from organization: IdentityID) async -> [UInt8]? {
            let forge = forgedAnswers.withLock { left -> Bool in
                defer { left = max(0, left - 1) }
                return left > 0
            }
            if forge {
                return PrivatePayload(args: .map(["diagnoses": .list([.string("Z00.0")])]), salt: Array(repeating: 1, count: 32)).encoded
            }
            guard let (node, access) = registry.peer(organization) else { return nil }
            let request = PeerRequest.sign(chainId: node.chainId, resource: PeerRequest.privatePayload(id), organization: own, timeMs: clock.nowMs())
            do throws(ServiceError) {
                return try await PrivatePayloads.release(request, transaction: id, node: node, access: access, nowMs: clock.nowMs())
            } catch {
                refusals.withLock { $0.append(error.message) }
                return nil
            }
        }
    }

    static func plan() -> ClaimsContract.RegisterPlan {
        ClaimsContract.RegisterPlan(plan: "GOLD", currency: "USD", deductible: 10_000, coinsurance: 2_000, outOfPocketMax: 100_000,
                                    benefits: [.init(code: "99213", allowed: 15_000)], diagnoses: [])
    }

    static func claim(patient: IdentityID, serviceMs: Int64) -> ClaimsContract.Submit {
        ClaimsContract.Submit(claim: Hash256.sha256(Array("CLM-1".utf8)), plan: "GOLD", patient: patient,
                              memberID: Hash256.sha256(Array("member id".utf8)),
                              claimHash: Hash256.sha256(Array("the FHIR Claim".utf8)), diagnoses: [diagnosis],
                              items: [ClaimItem(sequence: 1, code: "99213", quantity: 1, unitPriceMinor: 20_000, serviceMs: serviceMs,
                                                record: Hash256.sha256(Array("visit".utf8)))])
    }

    /// Everything a store holds, as bytes: blocks, state, private payloads.
    static func everything(in store: InMemoryLedgerStore, ids: [Hash256]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        let head = try #require(try store.head())
        for height in 0...head.height {
            let block = try #require(try store.rawBlock(height: height))
            bytes += block.headerBytes + block.transactionBytes.flatMap { $0 } + block.resultBytes.flatMap { $0 }
        }
        try store.forEachState { key, value, _ in bytes += Array(key.utf8) + value }
        for payload in store.privatePayloads(ids).values { bytes += payload }
        return bytes
    }

    @Test func theThirdOrganizationsNodeStoresNoneOfAPairsPrivatePayload() async throws {
        let network = try await Network()
        _ = try await network.commit(UnsignedCall(network.payer, call: Self.plan()), through: 1)
        let patient = try await network.registerPatient(seed: 94)
        // The payer's node is first answered with a forged payload: it must refuse it and ask again.
        network.links[1].forgedAnswers.withLock { $0 = 1 }
        let submit = Self.claim(patient: patient.derivedID, serviceMs: network.clock.nowMs() - 86_400_000)
        let call = UnsignedCall(network.hospital, privateCall: submit, for: [network.hospital.derivedID, network.payer.derivedID])
        let tx = try await network.commit(call, through: 0)

        // One chain: the same blocks, state roots and log roots on all three nodes.
        let heads = try network.stores.map { try #require(try $0.head()) }
        #expect(Set(heads.map(\.hash)).count == 1)
        // The provider's and the payer's nodes adjudicated it the same way; the laboratory's knows nothing of it.
        let atHospital = try #require(ClaimsContract.claim(submit.claim, in: network.nodes[0].state))
        let atPayer = try #require(ClaimsContract.claim(submit.claim, in: network.nodes[1].state))
        #expect(atHospital == atPayer)
        #expect(atHospital.diagnoses == [Self.diagnosis])
        #expect(ClaimsContract.claim(submit.claim, in: network.nodes[2].state) == nil)
        // The payer's node fetched the payload once, after refusing the forged answer.
        #expect(network.nodes[1].privateDataStatus.fetched == 1)
        #expect(network.nodes[1].privateDataStatus.refused == 1)
        #expect(network.nodes[0].privateDataStatus.fetched == 0)
        let payload = try #require(call.payload)
        #expect(network.stores[0].privatePayloads([tx.id])[tx.id] == payload.encoded)
        #expect(network.stores[1].privatePayloads([tx.id])[tx.id] == payload.encoded)
        // The laboratory's node: no payload, no private state, and nowhere the diagnosis, the
        // claim's id, the FHIR Claim's hash or the salt (the procedure code is in the plan, which is shared).
        #expect(network.stores[2].privatePayloads([tx.id]).isEmpty)
        #expect(try network.stores[2].states(prefix: PrivateEnvelope.keyPrefix, after: nil, limit: 10).isEmpty)
        let laboratoryBytes = try Self.everything(in: network.stores[2], ids: [tx.id])
        let hospitalBytes = try Self.everything(in: network.stores[0], ids: [tx.id])
        let secrets = [("diagnosis", Array(Self.diagnosis.utf8)), ("claim id", submit.claim.bytes), ("claim hash", submit.claimHash.bytes),
                       ("salt", payload.salt)]
        for (what, secret) in secrets {
            let atLaboratory = laboratoryBytes.contains(subsequence: secret), atHospital = hospitalBytes.contains(subsequence: secret)
            #expect(!atLaboratory, "the laboratory's node holds the \(what)")
            #expect(atHospital, "the hospital's node lacks the \(what)")
        }
        // Each node's full audit replays its own share: the pair's private state, the laboratory's none.
        for store in network.stores {
            let audit = try ChainAudit.run(store: store)
            if case .failure(let error) = audit { Issue.record("\(error)") }
        }
        await network.stop()
    }

    @Test func aPriorAuthorizationGoesToTheProviderAndThePayerOnly() async throws {
        let network = try await Network()
        _ = try await network.commit(UnsignedCall(network.payer, call: Self.plan()), through: 1)
        let patient = try await network.registerPatient(seed: 97)
        let pair: Set = [network.hospital.derivedID, network.payer.derivedID]
        let request = ClaimsContract.RequestAuthorization(plan: "GOLD", patient: patient.derivedID, code: "99213", quantity: 2)
        let requested = try await network.commit(UnsignedCall(network.hospital, privateCall: request, for: pair), through: 0)
        let decide = ClaimsContract.DecideAuthorization(authorization: requested.id, approve: true, quantity: 2,
                                                        validUntilMs: network.clock.nowMs() + 30 * 86_400_000)
        let decided = try await network.commit(UnsignedCall(network.payer, privateCall: decide, for: pair), through: 1)
        // Both parties' nodes hold it approved; the laboratory's holds no payload and no private state.
        for index in [0, 1] {
            let auth = try #require(ClaimsContract.authorization(requested.id, in: network.nodes[index].state))
            #expect(auth.status == .approved && auth.remaining == 2 && auth.code == "99213")
        }
        #expect(ClaimsContract.authorization(requested.id, in: network.nodes[2].state) == nil)
        #expect(network.stores[2].privatePayloads([requested.id, decided.id]).isEmpty)
        #expect(try network.stores[2].states(prefix: PrivateEnvelope.keyPrefix, after: nil, limit: 10).isEmpty)
        // Neither transaction names the patient on the shared chain.
        for tx in [requested, decided] { #expect(!tx.bytes.contains(subsequence: patient.derivedID.bytes)) }
        await network.stop()
    }

    @Test func aPayloadIsReleasedOnlyToAnOrganizationItNamesSignedWithItsKey() async throws {
        let network = try await Network()
        _ = try await network.commit(UnsignedCall(network.payer, call: Self.plan()), through: 1)
        let patient = try await network.registerPatient(seed: 95)
        let submit = Self.claim(patient: patient.derivedID, serviceMs: network.clock.nowMs() - 86_400_000)
        let tx = try await network.commit(UnsignedCall(network.hospital, privateCall: submit,
                                                       for: [network.hospital.derivedID, network.payer.derivedID]), through: 0)
        let now = network.clock.nowMs()
        func ask(_ request: PeerRequest, for id: Hash256) async -> String? {
            do throws(ServiceError) {
                _ = try await PrivatePayloads.release(request, transaction: id, node: network.nodes[0], access: network.access[0], nowMs: now)
                return nil
            } catch { return error.message }
        }
        func signed(_ keys: IdentityKeys, _ id: Hash256, chainId: String = Self.chainId, timeMs: Int64? = nil) -> PeerRequest {
            PeerRequest.sign(chainId: chainId, resource: PeerRequest.privatePayload(id), organization: keys, timeMs: timeMs ?? now)
        }
        let clear = Hash256.sha256([1])
        let cases: [(String, PeerRequest, Hash256, String)] = [
            ("the laboratory, not named", signed(network.laboratory, tx.id), tx.id, "does not go to organization"),
            ("the payer's name, the laboratory's signature",
             PeerRequest(chainId: Self.chainId, resource: PeerRequest.privatePayload(tx.id), organization: network.payer.derivedID, timeMs: now,
                         signature: signed(network.laboratory, tx.id).signature),
             tx.id, "not signed with the registered key"),
            ("an old request", signed(network.payer, tx.id, timeMs: now - 120_000), tx.id, "from this node's clock"),
            ("another chain", signed(network.payer, tx.id, chainId: "other"), tx.id, "not other"),
            ("signed for another payload", signed(network.payer, clear), tx.id, "is signed for"),
            ("a clear transaction", signed(network.payer, clear), clear, "no private call"),
        ]
        for (what, request, id, expected) in cases {
            let refusal = await ask(request, for: id)
            #expect(refusal?.contains(expected) == true, "\(what): \(refusal ?? "released")")
        }
        // The payer asking in its own name is answered.
        #expect(await ask(signed(network.payer, tx.id), for: tx.id) == nil)
        await network.stop()
    }
}

/// Reading a record another organization holds, through one's own node: the laboratory's node
/// asks the hospital's (the custodian's), which decides on its replica, logs, and answers with the
/// ciphertext and the data key wrapped to the requester.
@Suite("A record another organization holds, read through one's own node", .timeLimit(.minutes(3)))
struct PeerRecordTests {
    typealias Network = PrivateDataTests.Network

    /// The reading organization's way to the custodian's node: the custodian's own answer
    /// (`PeerRecords.release`), the request signed with the reader's organization key.
    struct Peer: RecordPeer {
        let network: Network
        let own: IdentityKeys

        func release(_ record: Hash256, requester: IdentityID, purpose: Purpose, custodian: IdentityID, seenHeight: UInt64) async throws(ServiceError)
            -> JSONObject {
            guard let index = network.organizations.firstIndex(where: { $0.derivedID == custodian }) else { throw .notFound("no such node") }
            let request = PeerRequest.sign(chainId: PrivateDataTests.chainId,
                                           resource: PeerRecords.resource(record, requester: requester, purpose: purpose),
                                           organization: own, timeMs: network.clock.nowMs())
            return try await PeerRecords.release(request, record: record, requester: requester, purpose: purpose, node: network.nodes[index],
                                                 access: network.access[index], nowMs: network.clock.nowMs(), seenHeight: seenHeight)
        }
    }

    /// The hospital stores `content` encrypted as a general record of `patient` and registers it; its record id.
    static func registerAtTheHospital(_ content: [UInt8], name: String, patient: IdentityKeys, _ network: Network) async throws -> Hash256 {
        let record = Hash256.sha256(Array(name.utf8))
        let prepared = try network.access[0].prepare(content: content, record: record, version: 1, patient: patient.derivedID,
                                                     custodian: network.hospital.derivedID)
        try network.access[0].store(prepared.version)
        _ = try await network.access[0].registering([prepared.version]) {
            try await network.commit(UnsignedCall(network.hospital, call: RecordsContract.Register(
                record: record, patient: patient.derivedID, resourceType: prepared.resourceType, category: .general,
                ciphertextHash: prepared.version.blob.hash, version: 1)), through: 0)
        }
        return record
    }

    static func open(_ answer: JSONObject, as keys: IdentityKeys) throws -> [UInt8] {
        let record = try #require((answer["record"] as? JSONObject)?["record"] as? String).flatMap(Hash256.init(hex:))
        let version = try #require((answer["record"] as? JSONObject)?["version"] as? UInt64 ?? ((answer["record"] as? JSONObject)?["version"] as? Int).map(UInt64.init))
        let wrapped = try WrappedKey(bytes: try #require((answer["wrapped_key"] as? String).flatMap(Base64.decode)))
        let sealed = try SealedRecord(bytes: try #require((answer["sealed_record"] as? String).flatMap(Base64.decode)))
        let id = try #require(record)
        let key = try KeyWrap.unwrap(wrapped, with: keys.agreement, context: WrapContext(record: id, version: version, recipient: keys.derivedID))
        return try RecordCipher.open(sealed, with: key, record: id, version: version)
    }

    @Test func theCustodianDecidesLogsAndAnswersTheReaderOpensIt() async throws {
        let network = try await Network()
        let (hospital, laboratory, payer) = (network.hospital, network.laboratory, network.payer)
        let patient = try await network.registerPatient(seed: 96)
        // The hospital stores an encrypted Observation and registers it.
        let content = Array(#"{"resourceType":"Observation","status":"final","code":{"text":"HbA1c"},"valueQuantity":{"value":6.1,"unit":"%"}}"#.utf8)
        let record = try await Self.registerAtTheHospital(content, name: "observation-1", patient: patient, network)
        let peer = Peer(network: network, own: laboratory)
        func read(as requester: IdentityID) async -> Result<JSONObject, ServiceError> {
            do throws(ServiceError) {
                guard let answer = try await PeerRecords.read(record, requester: requester, purpose: .treatment, node: network.nodes[2],
                                                              access: network.access[2], peer: peer) else { return .failure(.notFound("answered locally")) }
                return .success(answer)
            } catch { return .failure(error) }
        }
        // No consent yet: the hospital refuses, and the refusal looks like a missing record.
        guard case .failure(let refusal) = await read(as: laboratory.derivedID) else { Issue.record("released without consent"); return }
        #expect(refusal.kind == .notFound, "\(refusal)")
        // The patient consents to the laboratory; the laboratory reads through its own node and opens it.
        _ = try await network.commit(UnsignedCall(patient, call: ConsentContract.Grant(patient: patient.derivedID, grantee: .organization(laboratory.derivedID),
                                                                                       purposes: [.treatment], actions: [.read])), through: 0)
        let answer = try await read(as: laboratory.derivedID).get()
        #expect(try Self.open(answer, as: laboratory) == content)
        #expect((answer["decision"] as? [String: Any])?["outcome"] as? String == "permit", "\(answer)")
        // The laboratory's node holds no key to it; the payer, not the laboratory's member, is refused.
        #expect(network.access[2].custodianKeys(hospital.derivedID) == nil)
        guard case .failure(let stranger) = await read(as: payer.derivedID) else { Issue.record("released to another organization's name"); return }
        #expect(stranger.kind == .forbidden, "\(stranger)")
        // On the custodian's own node the same read is answered locally.
        let local = try await PeerRecords.read(record, requester: laboratory.derivedID, purpose: .treatment, node: network.nodes[0],
                                               access: network.access[0], peer: peer)
        #expect(local == nil)
        await network.stop()
    }

    /// A consent the reader's node has committed counts at the custodian's node even when that node
    /// is a block behind: the asking node sends its height and the custodian waits for it before
    /// deciding (before, it decided at once and refused).
    @Test func theCustodianWaitsForTheHeightTheReadersNodeHasSeen() async throws {
        let network = try await Network()
        let laboratory = network.laboratory
        let patient = try await network.registerPatient(seed: 97)
        let content = Array(#"{"resourceType":"Observation","status":"final","code":{"text":"TSH"}}"#.utf8)
        let record = try await Self.registerAtTheHospital(content, name: "observation-2", patient: patient, network)
        // The patient's consent reaches the laboratory's node; the hospital's node has not read it from the log yet.
        let grant = try await LedgerClient(node: network.nodes[2]).sign(endorsing: UnsignedCall(patient, call: ConsentContract.Grant(
            patient: patient.derivedID, grantee: .organization(laboratory.derivedID), purposes: [.treatment], actions: [.read])))
        _ = try await network.nodes[2].submit([grant])[0].get()
        network.clock.advance(ms: 1_000)
        var rng = SplitMix64(seed: 2)
        _ = network.log.deliver(order: [2], lossPercent: 0, timeMs: network.clock.nowMs(), rng: &rng)
        network.orderers[2].allow(upTo: network.log.count)
        _ = try await network.nodes[2].awaitCommit(grant.id)
        #expect(network.nodes[0].height < network.nodes[2].height)
        // The hospital's node catches up 300 ms into the request.
        let catchUp = Task {
            try await Task.sleep(for: .milliseconds(300))
            for orderer in network.orderers { orderer.allow(upTo: network.log.count) }
        }
        let answer = try await PeerRecords.read(record, requester: laboratory.derivedID, purpose: .treatment, node: network.nodes[2],
                                                access: network.access[2], peer: Peer(network: network, own: laboratory))
        try await catchUp.value
        #expect((answer?["decision"] as? [String: Any])?["outcome"] as? String == "permit", "\(answer ?? [:])")
        await network.stop()
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence: [UInt8]) -> Bool {
        guard !subsequence.isEmpty, subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains { self[$0..<($0 + subsequence.count)].elementsEqual(subsequence) }
    }
}

extension EndorsedCall {
    /// A forgery of `honest`'s endorsed call for the tests: its proposal (or `proposal`) with the
    /// endorsement signatures `signatures` makes over the call's message, signed again by `sender`.
    static func forge(_ honest: Transaction, sender: IdentityKeys, proposal: Proposal? = nil,
                      signatures: (_ message: [UInt8], _ endorsed: EndorsedCall) -> [EndorsedCall.Signature]) throws -> Transaction {
        let body = honest.body
        let endorsed = try #require(EndorsedCall(args: body.args))
        let proposal = proposal ?? endorsed.proposal
        let message = EndorsedCall.message(chainId: body.chainId, sender: body.sender, sequence: body.sequence, contract: body.contract,
                                           method: body.method, envelope: endorsed.envelope, proposal: proposal)
        let forged = EndorsedCall(envelope: endorsed.envelope, proposal: proposal, signatures: signatures(message, endorsed))
        return Transaction.sign(TransactionBody(chainId: body.chainId, sender: body.sender, publicKey: body.publicKey, sequence: body.sequence,
                                                contract: body.contract, method: body.method, args: forged.args), with: sender)
    }
}
