/// FHIR R4 (4.0.1) resource types, and where a resource names the patient it is about.
public enum FHIRResourceTypes {
    /// Every R4 resource type.
    public static let all: Set<String> = [
        "Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance", "Appointment", "AppointmentResponse", "AuditEvent",
        "Basic", "Binary", "BiologicallyDerivedProduct", "BodyStructure", "Bundle", "CapabilityStatement", "CarePlan", "CareTeam",
        "CatalogEntry", "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse", "ClinicalImpression", "CodeSystem",
        "Communication", "CommunicationRequest", "CompartmentDefinition", "Composition", "ConceptMap", "Condition", "Consent",
        "Contract", "Coverage", "CoverageEligibilityRequest", "CoverageEligibilityResponse", "DetectedIssue", "Device",
        "DeviceDefinition", "DeviceMetric", "DeviceRequest", "DeviceUseStatement", "DiagnosticReport", "DocumentManifest",
        "DocumentReference", "EffectEvidenceSynthesis", "Encounter", "Endpoint", "EnrollmentRequest", "EnrollmentResponse",
        "EpisodeOfCare", "EventDefinition", "Evidence", "EvidenceVariable", "ExampleScenario", "ExplanationOfBenefit",
        "FamilyMemberHistory", "Flag", "Goal", "GraphDefinition", "Group", "GuidanceResponse", "HealthcareService", "ImagingStudy",
        "Immunization", "ImmunizationEvaluation", "ImmunizationRecommendation", "ImplementationGuide", "InsurancePlan", "Invoice",
        "Library", "Linkage", "List", "Location", "Measure", "MeasureReport", "Media", "Medication", "MedicationAdministration",
        "MedicationDispense", "MedicationKnowledge", "MedicationRequest", "MedicationStatement", "MedicinalProduct",
        "MedicinalProductAuthorization", "MedicinalProductContraindication", "MedicinalProductIndication",
        "MedicinalProductIngredient", "MedicinalProductInteraction", "MedicinalProductManufactured", "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical", "MedicinalProductUndesirableEffect", "MessageDefinition", "MessageHeader",
        "MolecularSequence", "NamingSystem", "NutritionOrder", "Observation", "ObservationDefinition", "OperationDefinition",
        "OperationOutcome", "Organization", "OrganizationAffiliation", "Parameters", "Patient", "PaymentNotice",
        "PaymentReconciliation", "Person", "PlanDefinition", "Practitioner", "PractitionerRole", "Procedure", "Provenance",
        "Questionnaire", "QuestionnaireResponse", "RelatedPerson", "RequestGroup", "ResearchDefinition",
        "ResearchElementDefinition", "ResearchStudy", "ResearchSubject", "RiskAssessment", "RiskEvidenceSynthesis", "Schedule",
        "SearchParameter", "ServiceRequest", "Slot", "Specimen", "SpecimenDefinition", "StructureDefinition", "StructureMap",
        "Subscription", "Substance", "SubstanceNucleicAcid", "SubstancePolymer", "SubstanceProtein",
        "SubstanceReferenceInformation", "SubstanceSourceMaterial", "SubstanceSpecification", "SupplyDelivery", "SupplyRequest",
        "Task", "TerminologyCapabilities", "TestReport", "TestScript", "ValueSet", "VerificationResult", "VisionPrescription",
    ]

    /// Elements that name the patient a resource is about, in the order they are tried.
    public static let patientElements = ["subject", "patient", "beneficiary"]

    /// The FHIR id of the patient a resource is about: its own id for a Patient, else the first
    /// `Patient/…` reference along its type's `patientCompartment` paths, in their order (nil when
    /// there is none, or the type is not in the R4 Patient compartment).
    public static func patientID(of resource: [String: Any]) -> String? {
        guard let type = resource["resourceType"] as? String else { return nil }
        if type == "Patient" { return resource["id"] as? String }
        for path in patientCompartment[type] ?? [] {
            for reference in references(in: resource, path: path.split(separator: ".").map(String.init)) {
                if let parsed = FHIRJSON.parseReference(reference), parsed.type == "Patient" { return parsed.id }
            }
        }
        return nil
    }

    /// The `reference` strings of the References at `path` (arrays walked at every step).
    static func references(in value: Any, path: [String]) -> [String] {
        if let list = value as? [Any] { return list.flatMap { references(in: $0, path: path) } }
        guard let object = value as? [String: Any] else { return [] }
        guard let first = path.first else { return (object["reference"] as? String).map { [$0] } ?? [] }
        return object[first].map { references(in: $0, path: Array(path.dropFirst())) } ?? []
    }
}
