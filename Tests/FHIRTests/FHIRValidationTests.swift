import FHIR
import Foundation
import Testing

/// One invalid resource and the issues (code and FHIRPath expression) the validator must report for it.
struct InvalidResourceCase: Sendable, CustomTestStringConvertible {
    let json: String
    let expected: [Expected]
    /// Whether the independent `fhir-validate` tool can see the problem. It checks unknown elements, JSON
    /// types, required elements and most primitive formats, but not value-set bindings, reference shapes,
    /// base64 content, empty strings or arrays, nulls, `_element` extensions, and its pydantic 1 models
    /// coerce numbers (5 → "5" for a string, 1.5 → 1 for an integer).
    let toolDetects: Bool

    struct Expected: Sendable {
        let code: String
        let expression: String
    }

    var testDescription: String { expected.map { "\($0.code) \($0.expression)" }.joined(separator: ", ") }
}

private func bad(_ json: String, _ code: String, _ expression: String, tool: Bool = true) -> InvalidResourceCase {
    InvalidResourceCase(json: json, expected: [.init(code: code, expression: expression)], toolDetects: tool)
}

private func bad(_ json: String, _ expected: [(String, String)], tool: Bool = true) -> InvalidResourceCase {
    InvalidResourceCase(json: json, expected: expected.map { .init(code: $0.0, expression: $0.1) }, toolDetects: tool)
}

/// Parses a test's JSON with the project's parser.
private func parse(_ json: String) throws -> [String: Any] { try FHIRJSON.object(Array(json.utf8), limit: FHIRJSON.bundleBytesMax) }

private let eob = """
{"resourceType":"ExplanationOfBenefit","status":{"code":"active"},"type":{"text":"professional"},"use":"claim",
 "patient":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"},"created":"2024-01-02T03:04:05Z",
 "insurer":{"display":"Payer"},"provider":{"display":"Clinic"},"outcome":"complete",
 "insurance":[{"focal":true,"coverage":{"display":"Plan"}}]}
"""

private let coding = #"{"coding":[{"system":"http://loinc.org","code":"1234-5"}]}"#

/// The invalid table: each resource with the issue (or issues) it must produce.
let invalidResourceCases: [InvalidResourceCase] = [
    // The five from the issue.
    bad(#"{"resourceType":"Observation","status":"final"}"#, "required", "Observation.code"),
    bad(#"{"resourceType":"Observation","status":{"x":1},"code":{"text":"x"}}"#, "structure", "Observation.status"),
    bad(#"{"resourceType":"Observation","status":"bogus","code":{"text":"x"},"fooBar":3}"#,
        [("code-invalid", "Observation.status"), ("structure", "Observation.fooBar")]),
    bad(#"{"resourceType":"Patient","gender":"martian","birthDate":"not-a-date"}"#,
        [("code-invalid", "Patient.gender"), ("value", "Patient.birthDate")]),
    bad("""
    {"resourceType":"Bundle","type":"transaction","entry":[
     {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111","resource":{"resourceType":"Patient","gender":"female"},
      "request":{"method":"POST","url":"Patient"}},
     {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},
      "subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}},"request":{"method":"POST","url":"Observation"}},
     {"resource":\(eob),"request":{"method":"POST","url":"ExplanationOfBenefit"}}]}
    """, "structure", "Bundle.entry[2].resource.status"),

    // Observation
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1},"valueString":"x"}"#,
        "structure", "Observation.value"),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"5"}}"#,
        "structure", "Observation.value.ofType(Quantity).value"),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"effectiveDateTime":"2020-13-01"}"#,
        "value", "Observation.effective.ofType(dateTime)"),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"issued":"2020-01-01"}"#, "value", "Observation.issued"),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient"}}"#,
        "value", "Observation.subject.reference", tool: false),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"category":{"text":"lab"}}"#, "structure", "Observation.category"),
    bad(#"{"resourceType":"Observation","status":"final","code":[{"text":"x"}]}"#, "structure", "Observation.code"),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"component":[{"valueString":"x"}]}"#,
        "required", "Observation.component[0].code"),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"referenceRange":[{"low":{"value":true}}]}"#,
        "structure", "Observation.referenceRange[0].low.value"),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":1.5}"#, "value", "Observation.value.ofType(integer)", tool: false),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"interpretation":[]}"#, "structure", "Observation.interpretation", tool: false),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"note":[{"text":""}]}"#, "value", "Observation.note[0].text", tool: false),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"extension":[{"valueString":"x"}]}"#,
        "required", "Observation.extension[0].url"),
    bad(#"{"resourceType":"Observation","status":"final","code":{"coding":[{"code":"x","foo":1}]}}"#,
        "structure", "Observation.code.coding[0].foo"),
    bad(#"{"resourceType":"Observation","status":"final","_status":"x","code":{"text":"x"}}"#, "structure", "Observation.status"),
    bad(#"{"resourceType":"Observation","id":"bad id!","status":"final","code":{"text":"x"}}"#, "value", "Observation.id"),
    bad(#"{"resourceType":"Observation","meta":{"lastUpdated":"yesterday"},"status":"final","code":{"text":"x"}}"#,
        "value", "Observation.meta.lastUpdated"),
    bad(#"{"resourceType":"Observation","text":{"status":"bogus","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"status":"final","code":{"text":"x"}}"#,
        "code-invalid", "Observation.text.status", tool: false),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueCodeableConcept":"high"}"#,
        "structure", "Observation.value.ofType(CodeableConcept)"),
    bad(#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueSampledData":{"origin":{"value":1},"period":1}}"#,
        "required", "Observation.value.ofType(SampledData).dimensions"),

    // Patient
    bad(#"{"resourceType":"Patient","name":[{"given":"Jane"}]}"#, "structure", "Patient.name[0].given"),
    bad(#"{"resourceType":"Patient","name":[{"given":["Jane",5]}]}"#, "structure", "Patient.name[0].given[1]", tool: false),
    bad(#"{"resourceType":"Patient","active":"true"}"#, "structure", "Patient.active"),
    bad(#"{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020-01-01"}"#, "structure", "Patient.deceased"),
    bad(#"{"resourceType":"Patient","multipleBirthInteger":"2"}"#, "structure", "Patient.multipleBirth.ofType(integer)"),
    bad(#"{"resourceType":"Patient","telecom":[{"system":"pager2","value":"1"}]}"#, "code-invalid", "Patient.telecom[0].system", tool: false),
    bad(#"{"resourceType":"Patient","address":[{"use":"house","city":"x"}]}"#, "code-invalid", "Patient.address[0].use", tool: false),
    bad(#"{"resourceType":"Patient","contact":[{"relationship":{"text":"mother"}}]}"#, "structure", "Patient.contact[0].relationship"),
    bad(#"{"resourceType":"Patient","communication":[{"preferred":true}]}"#, "required", "Patient.communication[0].language"),
    bad(#"{"resourceType":"Patient","link":[{"type":"seealso"}]}"#, "required", "Patient.link[0].other"),
    bad(#"{"resourceType":"Patient","birthDate":"19900101"}"#, "value", "Patient.birthDate"),
    bad(#"{"resourceType":"Patients","id":"x"}"#, "invalid", "resourceType"),
    bad(#"{"id":"x","gender":"male"}"#, "required", "resourceType"),
    bad(#"{"resourceType":"DomainResource","id":"x"}"#, "invalid", "resourceType", tool: false),
    bad(#"{"resourceType":"Patient","photo":[{"data":"not base64!"}]}"#, "value", "Patient.photo[0].data", tool: false),
    bad(#"{"resourceType":"Patient","identifier":[{"period":{"start":"2020-01-01T10:00"}}]}"#, "value", "Patient.identifier[0].period.start"),
    bad(#"{"resourceType":"Patient","managingOrganization":{"reference":"Organization/a b"}}"#,
        "value", "Patient.managingOrganization.reference", tool: false),
    bad(#"{"resourceType":"Patient","contained":[{"id":"p1","name":[{"family":"x"}]}]}"#, "required", "Patient.contained[0].resourceType"),
    bad(#"{"resourceType":"Patient","contained":[{"resourceType":"Practitioner","id":"p1","foo":"x"}]}"#, "structure", "Patient.contained[0].foo"),
    bad(#"{"resourceType":"Patient","birthDate":"1990-01-01","_birthDate":{"foo":1}}"#, "structure", "Patient.birthDate.foo"),
    bad(#"{"resourceType":"Patient","name":[{"given":["a"],"_given":[{"extension":[{"valueString":"x"}]}]}]}"#,
        "required", "Patient.name[0].given[0].extension[0].url", tool: false),
    bad(#"{"resourceType":"Patient","gender":null}"#, "structure", "Patient.gender", tool: false),

    // Bundle
    bad(#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient"}}]}"#, "required", "Bundle.type"),
    bad(#"{"resourceType":"Bundle","type":"bogus"}"#, "code-invalid", "Bundle.type", tool: false),
    bad(#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","gender":{"code":"male"}}}]}"#,
        "structure", "Bundle.entry[0].resource.gender"),
    bad(#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"FETCH","url":"Patient"}}]}"#,
        "code-invalid", "Bundle.entry[0].request.method", tool: false),
    bad(#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"POST"}}]}"#,
        "required", "Bundle.entry[0].request.url"),
    bad(#"{"resourceType":"Bundle","type":"searchset","total":"3"}"#, "structure", "Bundle.total"),
    bad(#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Nonsense","id":"x"}}]}"#,
        "invalid", "Bundle.entry[0].resource.resourceType"),

    // Encounter
    bad(#"{"resourceType":"Encounter","subject":{"reference":"Patient/p1"}}"#, [("required", "Encounter.status"), ("required", "Encounter.class")]),
    bad(#"{"resourceType":"Encounter","status":"finished","class":[{"code":"AMB"}]}"#, "structure", "Encounter.class"),
    bad(#"{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"period":{"end":"2020-01-01T25:00:00Z"}}"#,
        "value", "Encounter.period.end"),
    bad(#"{"resourceType":"Encounter","status":"done","class":{"code":"AMB"}}"#, "code-invalid", "Encounter.status", tool: false),

    // Condition
    bad("""
    {"resourceType":"Condition","subject":{"reference":"Patient/p1"},
     "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"bogus"}]}}
    """, "code-invalid", "Condition.clinicalStatus.coding[0].code", tool: false),
    bad(#"{"resourceType":"Condition","code":{"text":"x"}}"#, "required", "Condition.subject"),
    bad(#"{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"onsetAge":{"value":"ten"}}"#,
        "structure", "Condition.onset.ofType(Age).value"),

    // Procedure
    bad(#"{"resourceType":"Procedure","subject":{"reference":"Patient/p1"}}"#, "required", "Procedure.status"),
    bad(#"{"resourceType":"Procedure","status":"completed","subject":{"reference":"Patient/p1"},"performer":[{"function":{"text":"x"}}]}"#,
        "required", "Procedure.performer[0].actor"),

    // MedicationRequest
    bad(#"{"resourceType":"MedicationRequest","status":"active","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/p1"}}"#,
        "required", "MedicationRequest.intent"),
    bad("""
    {"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},
     "medicationCodeableConcept":{"text":"x"},"medicationReference":{"reference":"Medication/m1"}}
    """, "structure", "MedicationRequest.medication"),
    bad(#"{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"}}"#,
        "required", "MedicationRequest.medication"),
    bad("""
    {"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},
     "medicationCodeableConcept":{"text":"x"},"dosageInstruction":[{"timing":{"repeat":{"frequency":0}}}]}
    """, "value", "MedicationRequest.dosageInstruction[0].timing.repeat.frequency"),
    bad("""
    {"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},
     "medicationCodeableConcept":{"text":"x"},"dispenseRequest":{"numberOfRepeatsAllowed":-1}}
    """, "value", "MedicationRequest.dispenseRequest.numberOfRepeatsAllowed"),

    // Medication
    bad(#"{"resourceType":"Medication","ingredient":[{"isActive":true}]}"#, "required", "Medication.ingredient[0].item"),
    bad(#"{"resourceType":"Medication","status":"available"}"#, "code-invalid", "Medication.status", tool: false),

    // Immunization
    bad(#"{"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/p1"}}"#,
        "required", "Immunization.occurrence"),
    bad("""
    {"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/p1"},
     "occurrenceDateTime":"2020-01-01","primarySource":"yes"}
    """, "structure", "Immunization.primarySource"),

    // AllergyIntolerance
    bad(#"{"resourceType":"AllergyIntolerance","code":{"text":"peanut"}}"#, "required", "AllergyIntolerance.patient"),
    bad(#"{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p1"},"criticality":"very"}"#,
        "code-invalid", "AllergyIntolerance.criticality", tool: false),
    bad(#"{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p1"},"reaction":[{"description":"rash"}]}"#,
        "required", "AllergyIntolerance.reaction[0].manifestation"),

    // Practitioner, Organization, PractitionerRole, RelatedPerson
    bad(#"{"resourceType":"Practitioner","qualification":[{"issuer":{"display":"x"}}]}"#, "required", "Practitioner.qualification[0].code"),
    bad(#"{"resourceType":"Practitioner","name":{"family":"x"}}"#, "structure", "Practitioner.name"),
    bad(#"{"resourceType":"Organization","alias":"x"}"#, "structure", "Organization.alias"),
    bad(#"{"resourceType":"Organization","active":1}"#, "structure", "Organization.active"),
    bad(#"{"resourceType":"PractitionerRole","availableTime":[{"availableStartTime":"9am"}]}"#,
        "value", "PractitionerRole.availableTime[0].availableStartTime"),
    bad(#"{"resourceType":"RelatedPerson","relationship":[{"text":"x"}]}"#, "required", "RelatedPerson.patient"),

    // Claim, ExplanationOfBenefit, Coverage
    bad(#"{"resourceType":"Claim","status":"active","use":"claim"}"#, [("required", "Claim.insurance"), ("required", "Claim.patient")]),
    bad("""
    {"resourceType":"Claim","status":"active","type":{"text":"x"},"use":"claim","patient":{"reference":"Patient/p1"},
     "created":"2020-01-01","provider":{"display":"x"},"priority":{"text":"normal"},
     "insurance":[{"sequence":1,"focal":true,"coverage":{"display":"x"}}],"item":[{"sequence":0,"productOrService":{"text":"x"}}]}
    """, "value", "Claim.item[0].sequence"),
    bad(eob.replacingOccurrences(of: #"{"code":"active"}"#, with: #""active""#).replacingOccurrences(of: #""complete""#, with: #""done""#),
        "code-invalid", "ExplanationOfBenefit.outcome", tool: false),
    bad(eob.replacingOccurrences(of: #"{"code":"active"}"#, with: #""active""#).replacingOccurrences(of: #""focal":true,"#, with: ""),
        "required", "ExplanationOfBenefit.insurance[0].focal"),
    bad(#"{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/p1"}}"#, "required", "Coverage.payor"),
    bad(#"{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/p1"},"payor":[{"display":"x"}],"order":"1"}"#,
        "structure", "Coverage.order"),

    // Consent
    bad(#"{"resourceType":"Consent","status":"active","category":[{"text":"x"}]}"#, "required", "Consent.scope"),
    bad(#"{"resourceType":"Consent","status":"active","scope":{"text":"x"},"category":[{"text":"x"}],"provision":{"type":"maybe"}}"#,
        "code-invalid", "Consent.provision.type", tool: false),
    bad(#"{"resourceType":"Consent","status":"active","scope":{"text":"x"},"category":[{"text":"x"}],"provision":{"provision":[{"period":{"start":"soon"}}]}}"#,
        "value", "Consent.provision.provision[0].period.start"),

    // DiagnosticReport, Location, Questionnaire, QuestionnaireResponse
    bad(#"{"resourceType":"DiagnosticReport","status":"final","code":{"text":"x"},"issued":"2020"}"#, "value", "DiagnosticReport.issued"),
    bad(#"{"resourceType":"DiagnosticReport","status":"final","code":{"text":"x"},"result":{"reference":"Observation/o1"}}"#,
        "structure", "DiagnosticReport.result"),
    bad(#"{"resourceType":"Location","position":{"longitude":"1.0","latitude":2}}"#, "structure", "Location.position.longitude"),
    bad(#"{"resourceType":"Location","position":{"longitude":1.0}}"#, "required", "Location.position.latitude"),
    bad(#"{"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1","type":"group","item":[{"type":"string"}]}]}"#,
        "required", "Questionnaire.item[0].item[0].linkId"),
    bad(#"{"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1","type":"foo"}]}"#,
        "code-invalid", "Questionnaire.item[0].type", tool: false),
    bad(#"{"resourceType":"QuestionnaireResponse","status":"completed","item":[{"linkId":"1","answer":[{"valueBoolean":"yes"}]}]}"#,
        "structure", "QuestionnaireResponse.item[0].answer[0].value.ofType(boolean)"),

    // Provenance, AuditEvent, Device, CarePlan, Goal, ServiceRequest, Appointment, DocumentReference, Group, Task, Specimen
    bad(#"{"resourceType":"Provenance","recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"display":"x"}}]}"#, "required", "Provenance.target"),
    bad("""
    {"resourceType":"AuditEvent","type":{"code":"rest"},"recorded":"now","agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}
    """, "value", "AuditEvent.recorded"),
    bad(#"{"resourceType":"Device","udiCarrier":[{"carrierAIDC":"%%%"}]}"#, "value", "Device.udiCarrier[0].carrierAIDC", tool: false),
    bad(#"{"resourceType":"CarePlan","status":"active","intent":"plan"}"#, "required", "CarePlan.subject"),
    bad(#"{"resourceType":"Goal","lifecycleStatus":"active","subject":{"reference":"Patient/p1"}}"#, "required", "Goal.description"),
    bad("""
    {"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},
     "quantityQuantity":{"value":1},"quantityRatio":{"numerator":{"value":1}}}
    """, "structure", "ServiceRequest.quantity"),
    bad(#"{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"display":"x"}}]}"#,
        "required", "Appointment.participant[0].status"),
    bad(#"{"resourceType":"Appointment","status":"booked","minutesDuration":0,"participant":[{"status":"accepted"}]}"#,
        "value", "Appointment.minutesDuration"),
    bad(#"{"resourceType":"DocumentReference","status":"current","content":[{"attachment":{"size":"10"}}]}"#,
        "structure", "DocumentReference.content[0].attachment.size"),
    bad(#"{"resourceType":"Group","type":"person","actual":"true"}"#, "structure", "Group.actual"),
    bad(#"{"resourceType":"Task","status":"requested"}"#, "required", "Task.intent"),
    bad(#"{"resourceType":"Specimen","collection":{"collectedDateTime":"2020-01-01T10:00:00"}}"#,
        "value", "Specimen.collection.collected.ofType(dateTime)"),
    bad(#"{"resourceType":"CareTeam","participant":[{"member":{"display":"x"},"period":{"start":1}}]}"#,
        "structure", "CareTeam.participant[0].period.start"),
]

/// Minimal valid resources, hand-written: each must give no issue at all.
let validResources: [String] = [
    #"{"resourceType":"Patient"}"#,
    // A no-break space is not whitespace in FHIR's (Java) regexes.
    #"{"resourceType":"Practitioner","name":[{"text":"Acme\u00a0Healthcare"}],"identifier":[{"system":"http://x.org/\u00a0","value":"a\u00a0b"}]}"#,
    """
    {"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2024-01-02T03:04:05.678Z","versionId":"1"},
     "text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">Jane</div>"},
     "identifier":[{"system":"urn:oid:1.2.3","value":"MRN-1"}],"active":true,
     "name":[{"use":"official","family":"Doe","given":["Jane",null,"Q"],"_given":[null,{"extension":[{"url":"http://x.org/e","valueString":"B"}]},null]}],
     "gender":"female","birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-01-01T10:20:00+01:00"}]},
     "deceasedBoolean":false,"multipleBirthInteger":2,"telecom":[{"system":"phone","value":"555","use":"home"}],
     "address":[{"use":"home","line":["1 Main St"],"city":"Springfield","postalCode":"01101","period":{"start":"2020"}}],
     "contained":[{"resourceType":"Practitioner","id":"gp","name":[{"family":"Who"}]}],
     "generalPractitioner":[{"reference":"#gp"}],"managingOrganization":{"reference":"Organization/org-1/_history/2"},
     "communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"en"}]},"preferred":true}],
     "extension":[{"url":"http://x.org/nested","extension":[{"url":"a","valueCode":"b"},{"url":"c","valueQuantity":{"value":1.5,"unit":"mg"}}]}]}
    """,
    """
    {"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}],"text":"Heart rate"},
     "subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"},"effectiveDateTime":"2024-01-02T10:00:00+02:00",
     "issued":"2024-01-02T10:00:00.123Z","valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"},
     "referenceRange":[{"low":{"value":60},"high":{"value":100}}],"interpretation":[{"text":"normal"}],
     "component":[{"code":{"text":"a"},"valueInteger":-3},{"code":{"text":"b"},"valueBoolean":false},{"code":{"text":"c"},"valuePeriod":{"start":"2024-01"}}]}
    """,
    """
    {"resourceType":"Bundle","type":"transaction","entry":[
     {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111","resource":{"resourceType":"Patient","gender":"other"},"request":{"method":"POST","url":"Patient"}},
     {"resource":{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
      "subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}},"request":{"method":"POST","url":"Encounter"}}]}
    """,
    """
    {"resourceType":"Condition","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
     "verificationStatus":{"text":"confirmed"},"code":\(coding),"subject":{"reference":"Patient/p1"},"onsetAge":{"value":10,"unit":"a"}}
    """,
    """
    {"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"string",
     "item":[{"linkId":"1.1.1","type":"boolean","enableWhen":[{"question":"1.1","operator":"exists","answerBoolean":true}]}]}]}]}
    """,
    """
    {"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},
     "medicationCodeableConcept":{"text":"x"},"dosageInstruction":[{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d","timeOfDay":["08:00:00"]}},
     "doseAndRate":[{"doseQuantity":{"value":0.5}}]}],"dispenseRequest":{"numberOfRepeatsAllowed":0}}
    """,
    eob.replacingOccurrences(of: #"{"code":"active"}"#, with: #""active""#),
    """
    {"resourceType":"Parameters","parameter":[{"name":"a","valueString":"x"},{"name":"b","resource":{"resourceType":"Patient","active":false}},
     {"name":"c","part":[{"name":"d","valueDecimal":1e3}]}]}
    """,
    """
    {"resourceType":"Binary","contentType":"application/pdf","data":"SGVsbG8gd29ybGQ="}
    """,
]

@Suite("FHIRValidation: R4 structure, cardinality, formats, required bindings")
struct FHIRValidationTests {
    @Test func tableIsBroad() {
        #expect(invalidResourceCases.count >= 80)
        let types = Set(invalidResourceCases.compactMap { (try? parse($0.json))?["resourceType"] as? String })
        #expect(types.count >= 20, "\(types.sorted())")
    }

    @Test(arguments: invalidResourceCases)
    func invalidResourceReportsTheIssue(_ testCase: InvalidResourceCase) throws {
        let issues = FHIRValidator.validate(try parse(testCase.json))
        for expected in testCase.expected {
            #expect(issues.contains { $0.code == expected.code && $0.expression == expected.expression && $0.severity == .error },
                    "expected \(expected.code) at \(expected.expression); got \(issues)")
        }
    }

    @Test(arguments: validResources.indices)
    func validResourceHasNoIssue(_ index: Int) throws {
        let issues = FHIRValidator.validate(try parse(validResources[index]))
        #expect(issues.isEmpty, "\(issues)")
    }

    @Test func issueCountIsBounded() {
        var patient: [String: Any] = ["resourceType": "Patient"]
        for index in 0..<150 { patient["unknown\(index)"] = 1 }
        let issues = FHIRValidator.validate(patient)
        #expect(issues.count == FHIRValidator.issueLimit + 1)
        #expect(issues.last?.code == "too-costly")
        #expect(issues.dropLast().allSatisfy { $0.code == "structure" })
    }

    @Test func depthIsBounded() {
        var extensionValue: [String: Any] = ["url": "http://x.org/e", "valueString": "x"]
        for _ in 0..<200 { extensionValue = ["url": "http://x.org/e", "extension": [extensionValue]] }
        let issues = FHIRValidator.validate(["resourceType": "Patient", "extension": [extensionValue]])
        #expect(issues.count == 1)
        #expect(issues.first?.code == "too-costly")
    }

    @Test func nativeSwiftValuesAreTyped() {
        let observation: [String: Any] = ["resourceType": "Observation", "status": "final", "code": ["text": "x"],
                                          "valueInteger": 3, "component": [["code": ["text": "y"], "valueBoolean": true]]]
        #expect(FHIRValidator.validate(observation).isEmpty)
        let wrong: [String: Any] = ["resourceType": "Observation", "status": "final", "code": ["text": "x"], "valueBoolean": 1]
        #expect(FHIRValidator.validate(wrong).map(\.expression) == ["Observation.value.ofType(boolean)"])
    }

    @Test func messagesDoNotQuoteValuesThatMayBePHI() throws {
        let issues = FHIRValidator.validate(try parse("""
        {"resourceType":"Patient","birthDate":"born SECRET","name":[{"family":"SECRET","given":[7]}],"telecom":[{"value":"\\u000bSECRET"}],
         "multipleBirthInteger":123456789012,"gender":"SECRET"}
        """))
        #expect(issues.count == 5, "\(issues)")
        #expect(issues.allSatisfy { !$0.message.contains("SECRET") || $0.code == "code-invalid" }, "\(issues)")
        #expect(!issues.contains { $0.message.contains("123456789012") })
    }

    @Test func outcomeListsIssues() throws {
        let issues = FHIRValidator.validate(try parse(#"{"resourceType":"Observation","status":"final"}"#))
        let outcome = FHIRValidator.outcome(issues)
        let first = try #require((outcome["issue"] as? [[String: Any]])?.first)
        #expect(first["code"] as? String == "required")
        #expect(first["expression"] as? [String] == ["Observation.code"])
        #expect(FHIRValidator.isResourceType("Patient") && !FHIRValidator.isResourceType("DomainResource"))
    }

    /// Every official R4 example and every Synthea bundle: no error.
    @Test(.enabled(if: SharedData.has("data/fhir-r4-examples", "data/synthea"), SharedData.reason("data/fhir-r4-examples", "data/synthea")))
    func officialExamplesAndSyntheaAreValid() async throws {
        var files = 0, resources = 0, failures: [String] = []
        for folder in ["data/fhir-r4-examples", "data/synthea"] {
            let directory = SharedData.url(folder)
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
            for name in names {
                await Task.yield()  // long and CPU-bound: leave the test process's cooperative pool to the others now and then
                let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent(name)))
                let resource = try FHIRJSON.object(bytes, limit: FHIRJSON.bundleBytesMax)
                files += 1
                resources += 1 + ((resource["entry"] as? [Any])?.count ?? 0)
                let errors = FHIRValidator.validate(resource).filter { $0.severity == .error || $0.severity == .fatal }
                if !errors.isEmpty { failures.append("\(folder)/\(name): \(errors.prefix(3).map(\.description).joined(separator: "; "))") }
            }
        }
        print("FHIRValidation: \(files) files (\(resources) resources and entries), \(files - failures.count) valid, \(failures.count) with errors")
        #expect(files >= 360)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// The walk reaches every part of a real resource: an unknown member put into the deepest object of
    /// each official example (following the last key at each level) is reported there.
    @Test(.enabled(if: SharedData.has("data/fhir-r4-examples"), SharedData.reason("data/fhir-r4-examples")))
    func unknownMemberDeepInsideEveryExampleIsFound() async throws {
        /// `value` with `"zzzUnknown": 1` added to its deepest object, and that member's JSON path (for messages).
        func plant(_ value: Any) -> (Any, String)? {
            if let list = value as? [Any] {
                for index in list.indices.reversed() {
                    guard let (planted, path) = plant(list[index]) else { continue }
                    var copy = list
                    copy[index] = planted
                    return (copy, "[\(index)]" + path)
                }
                return nil
            }
            guard var object = value as? [String: Any] else { return nil }
            for key in object.keys.sorted().reversed() where !key.hasPrefix("_") && key != "resourceType" {
                guard let (planted, path) = plant(object[key]!) else { continue }
                object[key] = planted
                return (object, ".\(key)" + path)
            }
            object["zzzUnknown"] = 1
            return (object, ".zzzUnknown")
        }
        let directory = SharedData.url("data/fhir-r4-examples")
        var checked = 0, missed: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).filter({ $0.hasSuffix(".json") }).sorted() {
            await Task.yield()
            let resource = try FHIRJSON.object(try [UInt8](Data(contentsOf: directory.appendingPathComponent(name))), limit: FHIRJSON.bundleBytesMax)
            guard let (planted, path) = plant(resource), let mutated = planted as? [String: Any] else { continue }
            let issues = FHIRValidator.validate(mutated)
            checked += 1
            if !(issues.count == 1 && issues[0].code == "structure" && issues[0].expression.hasSuffix(".zzzUnknown")) {
                missed.append("\(name) \(path): \(issues)")
            }
        }
        #expect(checked >= 350)
        #expect(missed.isEmpty, "\(missed.joined(separator: "\n"))")
    }

    /// The independent checker (fhir.resources and fhirclient) also refuses every case of the table it can see.
    @Test(.enabled(if: SharedData.has("tools/fhir-validate"), SharedData.reason("tools/fhir-validate")),
          .timeLimit(.minutes(5)))
    func independentToolAgreesTheTableIsInvalid() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fhir-validation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var seen: [String: InvalidResourceCase] = [:]
        for (index, testCase) in invalidResourceCases.enumerated() where testCase.toolDetects {
            let name = String(format: "case-%03d.json", index)
            try Data(testCase.json.utf8).write(to: directory.appendingPathComponent(name))
            seen[name] = testCase
        }
        let process = Process()
        // At low priority, like every helper process: the timed suites beside it come first.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
        process.arguments = ["-n", "10", SharedData.url("tools/fhir-validate").path, directory.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        // Waited for on a thread of its own, not one of the test process's cooperative pool.
        let output: String = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                continuation.resume(returning: text)
            }
        }
        let lines = output.split(separator: "\n").map(String.init)
        let summary = try #require(lines.last { $0.hasSuffix(" failed") }, "\(output)")
        let numbers = summary.split(separator: " ").compactMap { Int($0) }
        try #require(numbers.count == 2, "\(summary)")
        print("FHIRValidation: fhir-validate on \(seen.count) invalid cases: \(summary)")
        let failedFiles = Set(lines.filter { $0.hasPrefix("FAIL ") }.compactMap { line in
            line.split(separator: " ").dropFirst().first.map { String($0.split(separator: "#").first ?? $0).split(separator: "/").last.map(String.init) ?? "" }
        })
        for name in seen.keys.sorted() where !failedFiles.contains(name) {
            Issue.record("fhir-validate accepts \(name): \(seen[name]!.testDescription) \(seen[name]!.json)")
        }
        #expect(numbers[1] >= seen.count)
    }

    /// What a server write refuses with: a 400 whose OperationOutcome names every problem with its expression.
    @Test func aNonConformingWriteIsRefusedWithEveryProblemNamed() throws {
        let resource = try parse(#"{"resourceType":"Observation","status":"bogus","code":{"text":"x"},"fooBar":3}"#)
        do {
            try FHIRJSON.conform(resource)
            Issue.record("a non-conforming Observation was accepted")
        } catch {
            #expect(error.status == 400)
            let issues = try #require(error.outcome["issue"] as? [[String: Any]])
            let expressions = Set(issues.compactMap { ($0["expression"] as? [String])?.first })
            #expect(expressions == ["Observation.status", "Observation.fooBar"], "\(issues)")
            #expect(error.diagnostics.contains("2 problems"), "\(error.diagnostics)")
        }
        #expect(throws: Never.self) { try FHIRJSON.conform(try parse(#"{"resourceType":"Observation","status":"final","code":{"text":"x"}}"#)) }
    }

    @Test(.enabled(if: SharedData.has("data/fhir-r4-core") && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
                   SharedData.reason("data/fhir-r4-core")))
    func theCommittedDefinitionsAreTheGeneratorsOutput() async throws {
        #expect(try await SharedData.generatorReproduces("generate-fhir-tables.py", "Sources/FHIR/Tables/R4Definitions.tsv"),
                "rerun scripts/generate-fhir-tables.py and commit its output")
    }
}
