import Contracts
import LedgerCore
import Testing

/// One row per rule: how to build the transaction, the expected code, and whether a refused
/// transaction still consumes its sequence number (contract refusals do; envelope refusals don't).
struct RuleCase: CustomStringConvertible, Sendable {
    let description: String
    let expected: ResultCode
    let make: @Sendable (inout Harness) -> VerifiedTransaction
}

@Suite("Executor and membership rules")
struct MembershipRuleTests {
    static let h = Harness.self
    static let newMember = Harness.keys(40)

    static let rows: [RuleCase] = [
        RuleCase(description: "accepted enroll", expected: .accepted) { $0.enroll(newMember, by: h.hospital, roles: ["nurse"]) },
        RuleCase(description: "wrong chain", expected: .wrongChain) { $0.sign(h.doctor, "anchor", "put", [:], sequence: 1, chainId: "other") },
        RuleCase(description: "replayed sequence", expected: .sequenceReplayed) { $0.sign(h.hospital, "anchor", "put", [:], sequence: 1) },
        RuleCase(description: "sequence gap", expected: .sequenceGap) { $0.sign(h.doctor, "anchor", "put", [:], sequence: 7) },
        RuleCase(description: "expired", expected: .expired) { $0.sign(h.doctor, "anchor", "put", [:], expiry: 1) },
        RuleCase(description: "unknown contract", expected: .unknownContract) { $0.sign(h.doctor, "casino", "play", [:]) },
        RuleCase(description: "unknown method", expected: .unknownMethod) { $0.sign(h.doctor, "membership", "promote", [:]) },
        RuleCase(description: "unknown sender", expected: .unknownSender) { $0.anchor(h.stranger, "s") },
        RuleCase(description: "key mismatch", expected: .keyMismatch) { $0.sign(h.stranger, "anchor", "put", [:], sender: h.doctor.derivedID, sequence: 1) },
        RuleCase(description: "self-registration with a foreign id", expected: .keyMismatch) {
            $0.sign(h.stranger, "membership", "registerPatient", ["agreementKey": .bytes(h.stranger.agreementPublicKey)], sender: h.doctor.derivedID, sequence: 1)
        },
        RuleCase(description: "found after genesis", expected: .genesisOnly) {
            $0.sign(h.hospital, "membership", "found", ["label": .string("x"), "organizationType": .string("hospital"), "agreementKey": .bytes(h.hospital.agreementPublicKey)])
        },
        RuleCase(description: "member enrolls", expected: .unauthorized) { $0.enroll(newMember, by: h.doctor, roles: []) },
        RuleCase(description: "patient enrolls", expected: .unauthorized) { $0.enroll(newMember, by: h.patient, roles: []) },
        RuleCase(description: "unknown role", expected: .unknownRole) { $0.enroll(newMember, by: h.hospital, roles: ["wizard"]) },
        RuleCase(description: "bad kind", expected: .badArguments) { $0.enroll(newMember, by: h.hospital, roles: [], kind: "patient") },
        RuleCase(description: "duplicate identity", expected: .alreadyRegistered) { $0.enroll(h.doctor, by: h.clinic, roles: []) },
        RuleCase(description: "unknown argument", expected: .badArguments) {
            $0.sign(h.hospital, "membership", "revoke", ["member": .bytes(h.doctor.derivedID.bytes), "why": .string("x")])
        },
        RuleCase(description: "short key", expected: .badArguments) {
            $0.sign(h.hospital, "membership", "enroll", ["kind": .string("member"), "label": .string("m"), "roles": .list([]),
                                                         "signingKey": .bytes([1, 2]), "agreementKey": .bytes(h.doctor.agreementPublicKey)])
        },
        RuleCase(description: "setRoles by another org", expected: .notOrganizationMember) {
            $0.sign(h.clinic, "membership", "setRoles", ["member": .bytes(h.doctor.derivedID.bytes), "roles": .list([])])
        },
        RuleCase(description: "revoke unknown identity", expected: .unknownIdentity) {
            $0.sign(h.hospital, "membership", "revoke", ["member": .bytes(h.stranger.derivedID.bytes)])
        },
        RuleCase(description: "patient registers twice", expected: .alreadyRegistered) {
            $0.sign(h.patient, "membership", "registerPatient", ["agreementKey": .bytes(h.patient.agreementPublicKey)])
        },
        RuleCase(description: "admit organization by a member", expected: .unauthorized) {
            $0.sign(h.doctor, "membership", "admitOrganization", ["label": .string("x"), "organizationType": .string("payer"),
                                                                  "signingKey": .bytes(newMember.signingPublicKey.rawValue), "agreementKey": .bytes(newMember.agreementPublicKey)])
        },
        RuleCase(description: "unknown organization type", expected: .unknownOrganizationType) {
            $0.sign(h.hospital, "membership", "admitOrganization", ["label": .string("x"), "organizationType": .string("casino"),
                                                                    "signingKey": .bytes(newMember.signingPublicKey.rawValue), "agreementKey": .bytes(newMember.agreementPublicKey)])
        },
        RuleCase(description: "rotate to a key in use", expected: .keyInUse) {
            $0.sign(h.doctor, "membership", "rotateKey", ["signingKey": .bytes(h.hospital.signingPublicKey.rawValue), "agreementKey": .bytes(h.doctor.agreementPublicKey)])
        },
        RuleCase(description: "patient anchors", expected: .unauthorized) { $0.anchor(h.patient, "p") },
    ]

    static let envelopeCodes: Set<ResultCode> = [.wrongChain, .sequenceReplayed, .sequenceGap, .expired, .unknownContract, .unknownMethod,
                                                  .unknownSender, .keyMismatch]

    @Test(arguments: rows)
    func rule(_ row: RuleCase) {
        var harness = Harness.standard()
        let before = harness.state.values
        let tx = row.make(&harness)
        let result = harness.run([tx])[0]
        #expect(result.code == row.expected.rawValue, "\(row): got \(result.code) \(result.message)")
        #expect(!result.message.isEmpty || row.expected == .accepted)
        guard row.expected != .accepted else { return }
        var changed = harness.state.values
        for (key, value) in before where changed[key] == value { changed[key] = nil }
        if Self.envelopeCodes.contains(row.expected) {
            #expect(changed.isEmpty, "\(row): an envelope refusal must change nothing, changed \(changed.keys.sorted())")
        } else {
            // A contract refusal consumes the sequence number and changes nothing else.
            #expect(Array(changed.keys) == ["system/sequence/\(tx.body.sender.hex)"], "\(row): changed \(changed.keys.sorted())")
        }
    }

    @Test func revokeRotateAndRoles() throws {
        var h = Harness.standard()
        #expect(h.run([h.sign(Harness.hospital, "membership", "setRoles", ["member": .bytes(Harness.doctor.derivedID.bytes),
                                                                          "roles": .list([.string("clinician"), .string("emergency-clinician")])])])[0].isAccepted)
        let doctor = try #require(Directory.identity(Harness.doctor.derivedID, in: h.state))
        #expect(doctor.roles == [.clinician, .emergencyClinician])

        let next = Harness.keys(50)
        #expect(h.run([h.sign(Harness.doctor, "membership", "rotateKey", ["signingKey": .bytes(next.signingPublicKey.rawValue),
                                                                         "agreementKey": .bytes(next.agreementPublicKey)])])[0].isAccepted)
        #expect(Directory.identity(Harness.doctor.derivedID, in: h.state)?.keyVersion == 2)
        #expect(h.run([h.anchor(Harness.doctor, "old key")])[0].code == ResultCode.keyMismatch.rawValue)
        h.sequences[Harness.doctor.derivedID]! -= 1
        #expect(h.run([h.sign(next, "anchor", "put", ["digest": .bytes(Hash256.sha256([1]).bytes), "kind": .string("d")],
                              sender: Harness.doctor.derivedID)])[0].isAccepted)

        #expect(h.run([h.sign(Harness.hospital, "membership", "revoke", ["member": .bytes(Harness.doctor.derivedID.bytes)])])[0].isAccepted)
        #expect(h.run([h.sign(Harness.hospital, "membership", "revoke", ["member": .bytes(Harness.doctor.derivedID.bytes)])])[0].code
                == ResultCode.alreadyRevoked.rawValue)
        #expect(h.run([h.sign(next, "anchor", "put", ["digest": .bytes(Hash256.sha256([2]).bytes), "kind": .string("d")],
                              sender: Harness.doctor.derivedID)])[0].code == ResultCode.senderRevoked.rawValue)
    }

    @Test func anchorOnceAndLookup() {
        var h = Harness.standard()
        #expect(h.run([h.anchor(Harness.doctor, "doc")])[0].isAccepted)
        #expect(h.run([h.anchor(Harness.doctor, "doc")])[0].code == ResultCode.alreadyAnchored.rawValue)
        let found = AnchorContract.lookup(Hash256.sha256(Array("doc".utf8)), in: h.state)
        #expect(found?.by == Harness.doctor.derivedID && found?.kind == "doc")
    }

    @Test func resultCodesAreStable() {
        let pinned: [ResultCode: UInt16] = [
            .accepted: 0, .wrongChain: 1, .sequenceReplayed: 2, .sequenceGap: 3, .expired: 4, .unknownSender: 5, .keyMismatch: 6,
            .senderRevoked: 7, .unknownContract: 8, .unknownMethod: 9, .badArguments: 10, .unauthorized: 11, .genesisOnly: 12,
            .notAfterGenesis: 13, .badCollection: 14, .wrongCollection: 15, .privateWritesShared: 16, .badEndorsement: 17, .endorsementExpired: 18, .readConflict: 19, .alreadyRegistered: 100, .unknownIdentity: 101, .unknownRole: 102, .notOrganizationMember: 103,
            .alreadyRevoked: 104, .keyInUse: 105, .unknownOrganizationType: 106, .roleNotAllowed: 107, .alreadyApproved: 108, .proposalConflict: 109, .alreadyAnchored: 200,
            .unknownRecord: 300, .versionConflict: 301, .recordErased: 302, .unknownPatient: 303, .unknownResourceType: 304,
            .unknownCategory: 305, .categoryChangeNotAllowed: 306, .labelNotCarried: 307,
            .unknownConsent: 400, .notPatientOrDelegate: 401, .unknownGrantee: 402, .consentAlreadyRevoked: 403,
            .tooManyConsents: 404, .badPeriod: 405, .granteeRevoked: 406, .unknownPurpose: 407, .unknownDelegate: 408,
            .tooManyDelegates: 409, .auditNotGrowing: 500,
            .unknownPlan: 600, .planExists: 601, .notPlanPayer: 602, .notProvider: 603, .coverageOverlap: 604, .unknownCoverage: 605,
            .unknownAuthorization: 606, .authorizationDecided: 607, .claimExists: 608, .unknownClaim: 609, .overpayment: 610,
            .serviceInFuture: 611, .badCode: 612, .tooManyEntries: 613, .coverageEnded: 614,
            .unknownTrial: 800, .trialAlreadyRegistered: 801, .notTrialSponsor: 802, .invalidTrialSite: 803, .duplicateEndpoint: 804,
            .trialHistoryFull: 805, .protocolUnchanged: 806, .consentFormVersionMismatch: 807, .consentFormVersionNotIncreasing: 808,
            .trialAlreadyConsented: 809, .noResearchConsent: 810, .reconsentNeeded: 811, .participantWithdrawn: 812, .alreadyEnrolled: 813,
            .participantLimitReached: 814, .notEnrolled: 815, .siteNotInTrial: 816, .endpointNotPreregistered: 817,
            .crfAlreadyAnchored: 818, .duplicateCriterion: 819, .recruitmentNotOpen: 820, .notRecruitmentCustodian: 821,
            .matchTokenAlreadyAnnounced: 822, .matchLimitReached: 823, .unknownTrialPatient: 824, .notTrialPatientOrDelegate: 825,
            .participantAlreadyWithdrawn: 826, .notSiteStaff: 827, .sessionAlreadyExists: 900, .unknownSession: 901,
            .sessionPatientUnknown: 902, .notSessionPatient: 903, .notSessionParticipant: 904, .sessionAlreadyJoined: 905,
            .sessionAlreadyEnded: 906, .sessionNotJoined: 907, .transcriptWithoutConsent: 908, .badSessionTime: 909,
            .sessionNeedsClinician: 910, .noShowWithMessages: 911,
            .unknownProduct: 700, .productAlreadyRegistered: 701, .invalidGTIN: 702, .invalidSerial: 703, .invalidLot: 704,
            .serialAlreadyCommissioned: 705, .unknownUnit: 706, .notOwner: 707, .unitInTransit: 708, .unitDispensed: 709,
            .unitRecalled: 710, .unitSuspect: 711, .unitExpired: 712, .unitDecommissioned: 713, .unitInCase: 714, .invalidSSCC: 715,
            .caseAlreadyExists: 716, .unknownCase: 717, .caseUnpacked: 718, .invalidRecipient: 719, .nothingToReceive: 720,
            .notPendingRecipient: 721, .notShipper: 722, .unknownLot: 723, .lotRecalled: 724, .lotExpiryConflict: 725,
            .unitNotSuspect: 726, .custodyHistoryFull: 727, .notSupplyParty: 728, .notManufacturer: 729, .unknownReason: 730,
            .tooManyUnits: 731, .expiryNotInFuture: 732,
            .unknownPrescription: 750, .prescriptionExpired: 751, .noFillsLeft: 752, .wrongProduct: 753, .prescriptionCancelled: 754,
            .notPrescriber: 755, .notPharmacy: 756, .badPrescriptionPeriod: 757, .wrongQuantity: 758, .notIssuer: 759,
        ]
        #expect(pinned.count == ResultCode.allCases.count)
        for code in ResultCode.allCases { #expect(pinned[code] == code.rawValue, "\(code)") }
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func executionIsDeterministicAndReplayMatches(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var a = Harness.standard()
        var blocks: [[VerifiedTransaction]] = []
        for _ in 0..<20 {
            var block: [VerifiedTransaction] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let pick = Int.random(in: 0..<4, using: &rng)
                let label = "d\(Int.random(in: 0..<15, using: &rng))"
                switch pick {
                case 0: block.append(a.anchor(Harness.doctor, label))
                case 1: block.append(a.anchor(Harness.hospital, label))
                case 2: block.append(a.enroll(Harness.keys(UInt8.random(in: 60...70, using: &rng)), by: Harness.clinic, roles: ["nurse"]))
                default: block.append(a.anchor(Harness.patient, label))
                }
            }
            blocks.append(block)
        }
        var b = Harness.standard()
        for block in blocks {
            let ra = a.run(block), rb = b.run(block)
            #expect(ra == rb)
        }
        #expect(a.state.values == b.state.values)
        #expect(a.stateRoot == b.stateRoot)
        // The verifier's replayer, fed the same history from genesis, reaches the same state and results.
        var replayer = ContractReplayer(executor: a.executor)
        var replayRoot = Hash256.zero
        for entry in a.history {
            let header = BlockHeader(chainId: Harness.chainId, height: entry.height, previousHash: .zero, timeMs: entry.timeMs,
                                     transactionCount: UInt32(entry.transactions.count), transactionsRoot: .zero, logSize: 0,
                                     logRoot: .zero, resultsRoot: .zero, stateRoot: .zero, ordererKey: Harness.orderer.signingPublicKey)
            let replayed = replayer.replay(header: header, transactions: entry.transactions)
            replayRoot = replayed.writeSet.stateRoot(after: replayRoot)
        }
        #expect(replayRoot == a.stateRoot)
        #expect(replayer.state.values == a.state.values)
        #expect(Directory.isOrderer(Harness.orderer.signingPublicKey, in: replayer.state))
    }
}

