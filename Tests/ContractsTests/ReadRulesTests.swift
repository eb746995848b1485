@testable import Contracts
import LedgerCore
import Testing

/// The relationship rules behind every read in docs/access-rules.md, one row per requester and
/// question, on a chain built by real transactions: a hospital (custodian here) and a clinic, the
/// hospital's clinician and auditor, the clinic's clinician, a payer and its agent, a pharmacy and
/// its pharmacist, the patient, their guardian, another patient.
@Suite("Read rules")
struct ReadRulesTests {
    static let k = Harness.keys
    static let auditor = k(90), clinicDoctor = k(91), guardian = k(92), otherPatient = k(93)
    static let payer = k(94), payerAgent = k(95), pharmacy = k(96), pharmacist = k(97)

    enum Who: String, CaseIterable, CustomTestStringConvertible {
        case patient, guardian, otherPatient, hospital, hospitalClinician, hospitalAuditor, clinic, clinicClinician
        case payer, payerAgent, pharmacy, pharmacist
        var testDescription: String { rawValue }
        var keys: IdentityKeys {
            switch self {
            case .patient: Harness.patient
            case .guardian: ReadRulesTests.guardian
            case .otherPatient: ReadRulesTests.otherPatient
            case .hospital: Harness.hospital
            case .hospitalClinician: Harness.doctor
            case .hospitalAuditor: ReadRulesTests.auditor
            case .clinic: Harness.clinic
            case .clinicClinician: ReadRulesTests.clinicDoctor
            case .payer: ReadRulesTests.payer
            case .payerAgent: ReadRulesTests.payerAgent
            case .pharmacy: ReadRulesTests.pharmacy
            case .pharmacist: ReadRulesTests.pharmacist
            }
        }
    }

    struct World: Sendable {
        let state: MemoryState
        func identity(_ who: Who) -> Identity { Directory.identity(who.keys.derivedID, in: state)! }
        static let shared: World = {
            var h = Harness.standard()
            func admit(_ keys: IdentityKeys, _ type: OrganizationType) -> VerifiedTransaction {
                h.sign(Harness.hospital, MembershipContract.AdmitOrganization(label: type.rawValue, organizationType: type,
                                                                              signingKey: keys.signingPublicKey, agreementKey: keys.agreementPublicKey))
            }
            _ = h.runAccepted([admit(ReadRulesTests.payer, .payer), admit(ReadRulesTests.pharmacy, .pharmacy)])
            _ = h.runAccepted([h.enroll(ReadRulesTests.payerAgent, by: ReadRulesTests.payer, roles: ["payer-agent"]),
                               h.enroll(ReadRulesTests.pharmacist, by: ReadRulesTests.pharmacy, roles: ["pharmacist"]),
                               h.plan("RR", by: ReadRulesTests.payer)])
            _ = h.runAccepted([h.enroll(ReadRulesTests.auditor, by: Harness.hospital, roles: ["auditor"]),
                           h.enroll(ReadRulesTests.clinicDoctor, by: Harness.clinic, roles: ["clinician"]),
                           h.sign(ReadRulesTests.guardian, MembershipContract.RegisterPatient(agreementKey: ReadRulesTests.guardian.agreementPublicKey)),
                           h.sign(ReadRulesTests.otherPatient, MembershipContract.RegisterPatient(agreementKey: ReadRulesTests.otherPatient.agreementPublicKey))])
            _ = h.runAccepted([h.addDelegate(ReadRulesTests.guardian)])
            return World(state: h.state)
        }()
    }

    /// Custodians held by the node answering: the hospital only.
    static let custodians: Set<IdentityID> = [Harness.hospital.derivedID]

    /// Who may read the patient's access log, list their records, list their consents.
    static let rows: [(Who, accessLog: Bool, records: Bool, consents: Bool)] = [
        (.patient, true, true, true),
        (.guardian, true, true, true),
        (.otherPatient, false, false, false),
        (.hospital, true, true, false),
        (.hospitalClinician, false, true, false),
        (.hospitalAuditor, true, true, false),
        (.clinic, false, false, false),
        (.clinicClinician, false, false, false),
        (.payer, false, false, false),
        (.payerAgent, false, false, false),
        (.pharmacy, false, false, false),
        (.pharmacist, false, false, false),
    ]

    @Test(arguments: rows.map { $0 })
    func patientLevelReads(_ row: (Who, accessLog: Bool, records: Bool, consents: Bool)) {
        let world = World.shared
        let requester = world.identity(row.0)
        let patient = Harness.patient.derivedID
        #expect(ReadRules.mayReadAccessLog(of: patient, requester, custodians: Self.custodians, world.state) == row.accessLog, "access log")
        #expect(ReadRules.mayListRecords(of: patient, requester, custodians: Self.custodians, world.state) == row.records, "record list")
        #expect(ReadRules.mayListConsents(of: patient, requester, world.state) == row.consents, "consent list")
    }

    /// Staff of an organization: the organization itself and its members, nobody else.
    @Test(arguments: Who.allCases)
    func staffOfTheHospital(_ who: Who) {
        let world = World.shared
        let expected: Set<Who> = [.hospital, .hospitalClinician, .hospitalAuditor]
        #expect(ReadRules.isStaff(of: Harness.hospital.derivedID, world.identity(who)) == expected.contains(who))
        #expect(ReadRules.isCustodianStaff(world.identity(who), custodians: Self.custodians) == expected.contains(who))
    }

    // MARK: One object of each kind, about the patient

    static let patient = Harness.patient.derivedID, hospital = Harness.hospital.derivedID, clinic = Harness.clinic.derivedID
    /// A claim by the hospital under the payer's plan "RR".
    static let claim = ClaimEntry(id: Hash256.sha256([1]), patient: patient, provider: hospital, submitter: Harness.doctor.derivedID,
                                  plan: "RR", coverage: nil, claimHash: .zero, diagnoses: [], items: [], lines: [], outcome: .paid,
                                  height: 1, timeMs: 0)
    static let coverage = Coverage(id: Hash256.sha256([2]), member: Hash256.sha256([3]), plan: "RR", startMs: 0, endMs: 1)
    /// A prior authorization the hospital requested under "RR".
    static let authorization = PriorAuthorization(id: Hash256.sha256([3]), patient: patient, plan: "RR", provider: hospital,
                                                  code: "70553", quantity: 1, height: 1)
    /// A prescription issued by the clinic's clinician.
    static let prescription = Prescription(id: Hash256.sha256([4]), prescriber: clinicDoctor.derivedID, organization: clinic,
                                           patient: patient, medicationRequestHash: .zero, gtin: "00312345678906", quantity: 1,
                                           refills: 0, expiresMs: 1, issuedHeight: 1, issuedMs: 0)
    /// A trial sponsored by the clinic, run at the hospital.
    static let trial = Trial(id: "RR-1", sponsor: clinic, registeredBy: clinic,
                             versions: [TrialVersion(version: 1, protocolHash: .zero, consentFormVersion: 1, primaryEndpoints: ["E1"],
                                                     secondaryEndpoints: [], sites: [hospital], reason: nil, endpointChange: nil,
                                                     dataBatchesBefore: 0, author: clinic, height: 1, timeMs: 0)],
                             participantCount: 1, dataBatchCount: 0, resultCount: 0, criteriaCount: 0, height: 1)
    /// A telehealth session the hospital's clinician opened with the patient.
    static let session = TelehealthSession(id: Hash256.sha256([5]), clinician: Harness.doctor.derivedID, clinicianOrganization: hospital,
                                           patient: patient, consentToRecord: true, keyCommitment: .zero, startMs: 0, openedHeight: 1)

    struct ObjectRow: Sendable, CustomTestStringConvertible {
        let who: Who
        let claim, coverage, authorization, prescription, participant, session: Bool
        var testDescription: String { who.rawValue }
    }

    /// Who may read the claim, the coverage, the authorization, the prescription, the patient's
    /// standing in the trial, the telehealth session (docs/access-rules.md).
    static let objectRows: [ObjectRow] = [
        .init(who: .patient, claim: true, coverage: true, authorization: true, prescription: true, participant: true, session: true),
        .init(who: .guardian, claim: true, coverage: true, authorization: true, prescription: true, participant: true, session: true),
        .init(who: .otherPatient, claim: false, coverage: false, authorization: false, prescription: false, participant: false, session: false),
        .init(who: .hospital, claim: true, coverage: false, authorization: true, prescription: false, participant: true, session: false),
        .init(who: .hospitalClinician, claim: true, coverage: false, authorization: true, prescription: false, participant: true, session: true),
        .init(who: .hospitalAuditor, claim: true, coverage: false, authorization: true, prescription: false, participant: true, session: false),
        .init(who: .clinic, claim: false, coverage: false, authorization: false, prescription: true, participant: true, session: false),
        .init(who: .clinicClinician, claim: false, coverage: false, authorization: false, prescription: true, participant: true, session: false),
        .init(who: .payer, claim: true, coverage: true, authorization: true, prescription: false, participant: false, session: false),
        .init(who: .payerAgent, claim: true, coverage: true, authorization: true, prescription: false, participant: false, session: false),
        .init(who: .pharmacy, claim: false, coverage: false, authorization: false, prescription: true, participant: false, session: false),
        .init(who: .pharmacist, claim: false, coverage: false, authorization: false, prescription: true, participant: false, session: false),
    ]

    @Test func everyRequesterHasAnObjectRow() {
        #expect(Set(Self.objectRows.map(\.who)) == Set(Who.allCases))
        #expect(Set(Self.rows.map(\.0)) == Set(Who.allCases))
    }

    @Test(arguments: objectRows)
    func objectReads(_ row: ObjectRow) {
        let world = World.shared
        let requester = world.identity(row.who)
        let payer = Self.payer.derivedID
        #expect(ReadRules.mayReadClaim(Self.claim, requester, world.state) == row.claim, "claim")
        #expect(ReadRules.mayReadCoverage(of: Self.patient, payer: payer, requester, world.state) == row.coverage, "coverage")
        #expect(ReadRules.mayReadAuthorization(Self.authorization, requester, world.state) == row.authorization, "authorization")
        #expect(ReadRules.mayReadPrescription(Self.prescription, requester, world.state) == row.prescription, "prescription")
        #expect(ReadRules.mayReadParticipant(Self.patient, of: Self.trial, requester, world.state) == row.participant, "trial participant")
        #expect(ReadRules.isSessionParticipant(Self.session, requester, world.state) == row.session, "telehealth session")
    }

    /// The patient side: the patient and the delegate they named, nobody else.
    @Test(arguments: Who.allCases)
    func patientSide(_ who: Who) {
        let world = World.shared
        #expect(ReadRules.isPatientSide(Harness.patient.derivedID, world.identity(who), world.state) == [.patient, .guardian].contains(who))
    }
}
