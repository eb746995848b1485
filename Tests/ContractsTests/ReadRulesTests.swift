import Contracts
import LedgerCore
import Testing

/// The relationship rules behind every read in docs/access-rules.md, one row per requester and
/// question, on a chain built by real transactions: a hospital (custodian here) and a clinic, the
/// hospital's clinician and auditor, the clinic's clinician, the patient, their guardian, a stranger.
@Suite("Read rules")
struct ReadRulesTests {
    static let k = Harness.keys
    static let auditor = k(90), clinicDoctor = k(91), guardian = k(92), otherPatient = k(93)

    enum Who: String, CaseIterable, CustomTestStringConvertible {
        case patient, guardian, otherPatient, hospital, hospitalClinician, hospitalAuditor, clinic, clinicClinician
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
            }
        }
    }

    struct World: Sendable {
        let state: MemoryState
        func identity(_ who: Who) -> Identity { Directory.identity(who.keys.derivedID, in: state)! }
        static let shared: World = {
            var h = Harness.standard()
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

    /// The patient side: the patient and the delegate they named, nobody else.
    @Test(arguments: Who.allCases)
    func patientSide(_ who: Who) {
        let world = World.shared
        #expect(ReadRules.isPatientSide(Harness.patient.derivedID, world.identity(who), world.state) == [.patient, .guardian].contains(who))
    }
}
