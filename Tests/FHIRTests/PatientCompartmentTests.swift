import FHIR
import Foundation
import Testing

/// Issue 15, item 4: which resources belong to a patient, and through which elements, comes from
/// the R4 Patient CompartmentDefinition (`scripts/generate-patient-compartment.py`), not a list
/// written by hand.
@Suite("FHIR: the R4 Patient compartment")
struct PatientCompartmentTests {
    static func reference(_ text: String) -> [String: Any] { ["reference": text] }

    /// (resource, the patient it belongs to or nil, why)
    static var cases: [(resource: [String: Any], patient: String?, why: String)] { [
        (["resourceType": "Observation", "subject": reference("Patient/p1")], "p1", "subject"),
        (["resourceType": "Observation", "subject": reference("Group/g1"), "performer": [reference("Practitioner/d1"), reference("Patient/p2")]],
         "p2", "a patient who performed the observation, when the subject is not a patient"),
        (["resourceType": "Appointment", "participant": [["actor": reference("Location/l1")], ["actor": reference("Patient/p3")]]],
         "p3", "a nested path (participant.actor), arrays walked"),
        (["resourceType": "Coverage", "policyHolder": reference("Patient/parent"), "beneficiary": reference("Patient/child")],
         "child", "beneficiary before the policy holder"),
        (["resourceType": "AllergyIntolerance", "recorder": reference("Patient/p4")], "p4", "a patient recording their own allergy"),
        (["resourceType": "Task", "for": reference("Patient/p5")], nil, "Task is not in the R4 Patient compartment"),
        (["resourceType": "Device", "patient": reference("Patient/p6")], nil, "nor is Device"),
        (["resourceType": "Encounter", "subject": reference("Group/g2")], nil, "no patient reference"),
        (["resourceType": "Patient", "id": "p7", "link": [["other": reference("Patient/p8")]]], "p7", "a Patient is its own"),
    ] }

    @Test func eachResourceBelongsToThePatientItsCompartmentPathsName() {
        for (resource, patient, why) in Self.cases {
            #expect(FHIRResourceTypes.patientID(of: resource) == patient, "\(resource["resourceType"] ?? ""): \(why)")
        }
    }

    @Test func theTableIsTheStandardsAndTheSearchParametersFollowIt() {
        #expect(FHIRResourceTypes.patientCompartment.count == 66)
        #expect(FHIRResourceTypes.patientCompartment["Coverage"]?.first == "beneficiary")
        #expect(SearchParameters.forType("Appointment")["patient"] != nil, "every compartment type gets patient=")
        #expect(SearchParameters.forType("Task")["patient"]?.target == .value,
                "a type outside the compartment has the standard's patient= as a stored reference, not through the record's patient")
    }

    /// The committed table is what the generator makes from the package today.
    @Test(.enabled(if: SharedData.has("data/fhir-r4-core") && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
                   SharedData.reason("data/fhir-r4-core")))
    func theCommittedTableIsTheGeneratorsOutput() async throws {
        #expect(try await SharedData.generatorReproduces("generate-patient-compartment.py", "Sources/FHIR/Generated/PatientCompartment.swift"),
                "rerun scripts/generate-patient-compartment.py and commit its output")
    }
}
