@testable import Contracts
import LedgerCore
import Testing

/// The security finding, reproduced: any organization could give its members any role. A
/// distributor enrolled an emergency clinician, who broke the glass on a hospital's patient and
/// read their Patient resource; the same member matched role-wide consents and the any-pharmacist
/// rule. Enrolling such a role is now refused, and a member an older chain holds with such roles
/// counts only the roles its organization's type allows.
///
/// These tests use only what existed before the fix (so they build, and fail, without it); the
/// refusal's code, `roleNotAllowed`, is checked for every pair by `RolesByOrganizationTypeTests`.
@Suite("Roles by organization type: the finding")
struct RoleFindingRegressionTests {
    static let k = Harness.keys
    static let distributor = k(210), staff = k(211), clinicDoctor = k(212), clinicER = k(213), newcomer = k(214)
    /// The patient's Patient resource, held by the hospital (author: the harness doctor).
    static let patientRecord = Hash256.sha256([0xD1])
    static let session = Hash256.sha256([0xD2])
    /// The roles the distributor's member holds on the older chain.
    static let legacyRoles: [Role] = [.supplyChain, .clinician, .emergencyClinician, .nurse, .pharmacist]

    /// The harness chain, a distributor whose member `staff` was enrolled for the supply chain and
    /// then — as a chain written before the fix may hold it — also given clinical roles; a clinic
    /// clinician and a clinic emergency clinician (the legitimate counterparts, outside the
    /// record's custodian); the patient's Patient resource at the hospital.
    static let world: Harness = {
        var h = Harness.standard()
        h.runAccepted([h.admitOrg(distributor, "distributor")], "distributor")
        h.runAccepted([
            h.enroll(staff, by: distributor, roles: ["supply-chain"]),
            h.enroll(clinicDoctor, by: Harness.clinic, roles: ["clinician"]),
            h.enroll(clinicER, by: Harness.clinic, roles: ["emergency-clinician"]),
            h.putRecord(patientRecord, "Patient", "general", by: Harness.doctor),
        ], "staff and record")
        h.giveLegacyRoles(legacyRoles, to: staff)
        return h
    }()

    static func decide(_ h: Harness, _ requester: IdentityKeys, _ purpose: Purpose) -> Decision {
        ConsentPolicy.decide(AccessRequest(requester: requester.derivedID, record: patientRecord, purpose: purpose, action: .read),
                             in: h.state, nowMs: h.nextTimeMs, height: h.height)
    }

    @Test func aDistributorCannotEnrollAnEmergencyClinician() {
        var h = Self.world
        let before = h.state.values
        let result = h.run([h.enroll(Self.newcomer, by: Self.distributor, roles: ["emergency-clinician"])])[0]
        #expect(!result.isAccepted, "a distributor enrolled an emergency-clinician")
        #expect(result.message.contains("emergency-clinician") && result.message.contains("distributor"), "\(result.message)")
        #expect(h.changedKeys(since: before) == [Harness.sequenceKey(Self.distributor.derivedID)])
        #expect(Directory.identity(Self.newcomer.derivedID, in: h.state) == nil)
    }

    @Test func aDistributorCannotGiveItsMemberTheEmergencyClinicianRole() {
        var h = Harness.standard()
        h.runAccepted([h.admitOrg(Self.distributor, "distributor")], "distributor")
        h.runAccepted([h.enroll(Self.staff, by: Self.distributor, roles: ["supply-chain"])], "staff")
        let before = h.state.values
        let result = h.run([h.sign(Self.distributor, MembershipContract.SetRoles(member: Self.staff.derivedID,
                                                                                 roles: [.supplyChain, .emergencyClinician]))])[0]
        #expect(!result.isAccepted, "a distributor made its member an emergency-clinician")
        #expect(h.changedKeys(since: before) == [Harness.sequenceKey(Self.distributor.derivedID)])
        #expect(Directory.identity(Self.staff.derivedID, in: h.state)?.roles == [.supplyChain])
    }

    @Test func aDistributorsEmergencyClinicianFromAnOlderChainCannotBreakTheGlass() {
        var h = Self.world
        let before = h.state.values
        let result = h.run([h.breakGlass(by: Self.staff, record: nil)])[0]
        #expect(result.code == ResultCode.unauthorized.rawValue, "got \(result.code) \(result.message)")
        #expect(h.changedKeys(since: before) == [Harness.sequenceKey(Self.staff.derivedID)])
        // The clinic's emergency clinician still can.
        #expect(h.run([h.breakGlass(by: Self.clinicER, record: nil)])[0].isAccepted)
    }

    /// A break-glass grant the older chain already holds opens nothing: the FHIR read of the
    /// finding is this decision.
    @Test func aBreakGlassGrantFromAnOlderChainDoesNotOpenThePatientsRecord() throws {
        var h = Self.world
        h.runAccepted([h.breakGlass(by: Self.clinicER, record: nil)], "legitimate break-glass")
        var values = h.state.values
        let grant = BreakGlassGrant(requester: Self.staff.derivedID, patient: Harness.patientID, record: nil, reason: .unconscious,
                                    justificationHash: Hash256.sha256([0xD3]), expiresMs: h.nextTimeMs + 3_600_000,
                                    height: h.height - 1, timeMs: h.nextTimeMs - 1)
        values[ConsentIndex.breakGlassKey(Harness.patientID, Self.staff.derivedID)] = try CanonicalEncoder().encodeBytes(grant)
        h.state = MemoryState(values)

        let staff = Self.decide(h, Self.staff, .emergencyTreatment)
        #expect(staff.outcome == .deny, "the distributor's member read the Patient: \(staff.reason)")
        let er = Self.decide(h, Self.clinicER, .emergencyTreatment)
        #expect(er.outcome == .breakGlass && er.reason == .breakGlass)
    }

    /// A patient's consent to every holder of a clinical role covers the clinic's clinician, not
    /// the distributor's member holding that role from an older chain.
    @Test(arguments: [Role.clinician, .emergencyClinician, .nurse, .pharmacist])
    func aRoleFromAnOlderChainDoesNotMatchARoleWideConsent(role: Role) {
        var h = Self.world
        h.runAccepted([h.grantConsent(to: .role(role))], "consent to role \(role.rawValue)")
        let staff = Self.decide(h, Self.staff, .treatment)
        #expect(staff.outcome == .deny, "role:\(role.rawValue) covered the distributor's member: \(staff.reason)")
        if role == .clinician {
            let doctor = Self.decide(h, Self.clinicDoctor, .treatment)
            #expect(doctor.outcome == .permit && doctor.reason == .consent)
        }
    }

    /// The any-pharmacist rule: every pharmacist may read (and a pharmacy's may fill) any
    /// prescription. A distributor's member holding the pharmacist role from an older chain may
    /// do neither. (Filling was already refused by the organization-type check of the fill itself.)
    @Test func aPharmacistFromAnOlderChainAtADistributorCannotReadOrFillPrescriptions() throws {
        typealias W = SupplyWorld
        var h = W.shared.h
        h.giveLegacyRoles([.pharmacist], to: W.dAuditor)
        let prescription = try #require(PrescriptionContract.prescription(W.shared.rxOpen, in: h.state)).prescription
        let legacy = try #require(Directory.identity(W.dAuditor.derivedID, in: h.state))
        #expect(!ReadRules.mayReadPrescription(prescription, legacy, h.state), "the distributor's 'pharmacist' reads any prescription")
        let pharmacist = try #require(Directory.identity(W.pharmacist.derivedID, in: h.state))
        #expect(ReadRules.mayReadPrescription(prescription, pharmacist, h.state))

        let fill = h.run([h.rxFill(W.dAuditor, W.shared.rxOpen, ["S001"])])[0]
        #expect(fill.code == ResultCode.notPharmacy.rawValue, "got \(fill.code) \(fill.message)")
    }

    /// Telehealth sessions are opened by clinicians; a distributor's member is none.
    @Test func aClinicianFromAnOlderChainAtADistributorCannotOpenATelehealthSession() {
        var h = Self.world
        let result = h.run([h.telehealthOpen(Self.session, by: Self.staff, startMs: h.nextTimeMs)])[0]
        #expect(result.code == ResultCode.sessionNeedsClinician.rawValue, "got \(result.code) \(result.message)")
    }
}
