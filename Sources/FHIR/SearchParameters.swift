import Contracts
public import Vault

/// A FHIR search parameter this server supports, and where its values come from. One table
/// serves both sides: the indexer extracts values with it, the search parser reads queries with it.
public struct SearchParameter: Sendable {
    public enum Kind: String, Sendable { case token, date, reference, string }
    /// How the parameter is indexed.
    public enum Target: Sendable, Equatable {
        /// Plain values keyed by record id (codes, dates, status): not identifying.
        case value
        /// Keyed hashes of normalized tokens (names, identifiers, telecom, address): never plaintext.
        case blind(IdentifierField)
        /// The record's patient (compartment).
        case patient
    }

    public let name: String
    public let kind: Kind
    public let target: Target
    /// Element paths read, dot-separated; arrays are walked at every step.
    public let paths: [String]
    public let documentation: String

    init(_ name: String, _ kind: Kind, _ target: Target = .value, _ paths: [String], _ documentation: String) {
        (self.name, self.kind, self.target, self.paths, self.documentation) = (name, kind, target, paths, documentation)
    }
}

/// The supported search parameters of each resource type.
public enum SearchParameters {
    static func token(_ name: String, _ paths: [String], _ doc: String) -> SearchParameter { SearchParameter(name, .token, .value, paths, doc) }
    static func date(_ name: String, _ paths: [String], _ doc: String) -> SearchParameter { SearchParameter(name, .date, .value, paths, doc) }
    static let patient = SearchParameter("patient", .reference, .patient, [], "The patient the resource is about")
    static let subject = SearchParameter("subject", .reference, .patient, [], "The subject (a Patient) of the resource")
    static let status = token("status", ["status"], "Status")
    static let code = token("code", ["code"], "Code (system|code or code)")
    static let category = token("category", ["category"], "Category (system|code or code)")

    /// Parameters every type supports.
    public static let common: [SearchParameter] = [
        token("_id", ["id"], "Logical id"),
        date("_lastUpdated", ["meta.lastUpdated"], "When the resource version was stored"),
        SearchParameter("identifier", .token, .blind(.identifier), ["identifier"], "Business identifier (value; matched blind)"),
    ]

    /// Type-specific parameters (besides `common`).
    public static let byType: [String: [SearchParameter]] = [
        "Patient": [
            SearchParameter("name", .string, .blind(.name), ["name"], "Any part of a name (matched blind, by word or word prefix)"),
            SearchParameter("family", .string, .blind(.name), ["name.family"], "Family name (matched blind)"),
            SearchParameter("given", .string, .blind(.name), ["name.given"], "Given name (matched blind)"),
            SearchParameter("address", .string, .blind(.address), ["address"], "Any part of an address (matched blind)"),
            SearchParameter("telecom", .token, .blind(.telecom), ["telecom"], "Phone or email (matched blind)"),
            SearchParameter("birthdate", .date, .blind(.birthDate), ["birthDate"], "Date of birth (matched blind: year, month and day tokens)"),
            SearchParameter("gender", .token, .blind(.gender), ["gender"], "Administrative gender (matched blind)"),
        ],
        "Observation": [code, category, status, date("date", ["effectiveDateTime", "effectivePeriod.start", "effectiveInstant"], "Clinically relevant time"),
                        patient, subject],
        "Condition": [code, category, token("clinical-status", ["clinicalStatus"], "Clinical status"),
                      date("onset-date", ["onsetDateTime", "onsetPeriod.start"], "Onset"), date("recorded-date", ["recordedDate"], "Recorded"),
                      patient, subject],
        "Encounter": [status, token("class", ["class"], "Encounter class"), token("type", ["type"], "Encounter type"),
                      date("date", ["period.start"], "Start of the encounter"), patient, subject],
        "Procedure": [code, status, date("date", ["performedDateTime", "performedPeriod.start"], "When performed"), patient, subject],
        "DiagnosticReport": [code, category, status, date("date", ["effectiveDateTime", "effectivePeriod.start"], "Clinically relevant time"),
                             patient, subject],
        "Immunization": [token("vaccine-code", ["vaccineCode"], "Vaccine"), status, date("date", ["occurrenceDateTime"], "When given"), patient],
        "MedicationRequest": [token("code", ["medicationCodeableConcept"], "Medication code"), status, token("intent", ["intent"], "Intent"),
                              date("authoredon", ["authoredOn"], "When written"), patient, subject],
        "AllergyIntolerance": [code, token("clinical-status", ["clinicalStatus"], "Clinical status"), token("category", ["category"], "Category"),
                               date("date", ["recordedDate"], "Recorded"), patient],
        "CarePlan": [category, status, date("date", ["period.start"], "Start of the plan"), patient, subject],
        "Goal": [token("lifecycle-status", ["lifecycleStatus"], "Lifecycle status"), patient, subject],
        "ImagingStudy": [status, date("started", ["started"], "When the study started"), patient, subject],
        "Claim": [status, token("use", ["use"], "claim | preauthorization | predetermination"), date("created", ["created"], "Created"), patient],
        "ExplanationOfBenefit": [status, date("created", ["created"], "Created"), patient],
        "ClaimResponse": [status, date("created", ["created"], "Created"), token("outcome", ["outcome"], "queued | complete | error | partial"), patient],
        "Consent": [status, category, date("date", ["dateTime"], "When the consent was given"), patient],
        "Coverage": [status, SearchParameter("beneficiary", .reference, .patient, [], "The covered patient"), patient],
        "DocumentReference": [status, token("type", ["type"], "Document type"), category, date("date", ["date"], "When created"), patient, subject],
        "Provenance": [SearchParameter("target", .reference, .value, [], "The resource version this Provenance is about (from the chain)")],
        "Organization": [SearchParameter("name", .string, .blind(.name), ["name"], "Organization name (matched blind)"),
                         token("type", ["type"], "Organization type")],
        "Practitioner": [SearchParameter("name", .string, .blind(.name), ["name"], "Any part of a name (matched blind)"),
                         SearchParameter("family", .string, .blind(.name), ["name.family"], "Family name (matched blind)"),
                         SearchParameter("given", .string, .blind(.name), ["name.given"], "Given name (matched blind)")],
    ]

    /// All parameters of a type, by name. Types in the R4 Patient compartment always get `patient`
    /// (a resource's patient is found along its compartment paths).
    public static func forType(_ type: String) -> [String: SearchParameter] {
        var out: [String: SearchParameter] = [:]
        for parameter in common + (byType[type] ?? []) { out[parameter.name] = parameter }
        if out["patient"] == nil, type != "Patient", FHIRResourceTypes.patientCompartment[type] != nil { out["patient"] = patient }
        return out
    }

    /// Types stored without a patient (directory data).
    public static var directoryTypes: Set<String> { RecordsContract.directoryResourceTypes }
}

extension SearchParameters {
    /// Summary elements (`isSummary` in the R4 definitions) of the common types; other types get
    /// a minimal set (identifier, status, code, category, subject, patient, dates, name).
    public static let summaryElementsByType: [String: Set<String>] = [
        "Patient": ["identifier", "active", "name", "telecom", "gender", "birthDate", "deceased[x]", "address", "managingOrganization", "link"],
        "Observation": ["identifier", "basedOn", "partOf", "status", "category", "code", "subject", "focus", "encounter", "effective[x]",
                        "issued", "performer", "value[x]", "dataAbsentReason", "hasMember", "derivedFrom"],
        "Condition": ["identifier", "clinicalStatus", "verificationStatus", "category", "severity", "code", "bodySite", "subject",
                      "encounter", "onset[x]", "abatement[x]", "recordedDate"],
        "Encounter": ["identifier", "status", "class", "type", "serviceType", "priority", "subject", "episodeOfCare", "basedOn",
                      "participant", "appointment", "period", "reasonCode", "reasonReference", "diagnosis", "account", "location",
                      "serviceProvider", "partOf"],
        "Procedure": ["identifier", "instantiatesCanonical", "instantiatesUri", "basedOn", "partOf", "status", "statusReason", "category",
                      "code", "subject", "encounter", "performed[x]", "recorder", "asserter", "performer", "location", "reasonCode",
                      "reasonReference", "bodySite", "outcome"],
        "DiagnosticReport": ["identifier", "basedOn", "status", "category", "code", "subject", "encounter", "effective[x]", "issued",
                             "performer", "resultsInterpreter", "specimen", "result", "imagingStudy", "media", "conclusion"],
        "Immunization": ["identifier", "status", "vaccineCode", "patient", "occurrence[x]", "primarySource", "recorded", "lotNumber",
                         "performer", "reasonCode", "reasonReference", "isSubpotent", "protocolApplied"],
        "MedicationRequest": ["identifier", "status", "statusReason", "intent", "category", "priority", "doNotPerform", "reported[x]",
                              "medication[x]", "subject", "encounter", "authoredOn", "requester", "performer", "reasonCode",
                              "reasonReference", "dosageInstruction"],
        "AllergyIntolerance": ["identifier", "clinicalStatus", "verificationStatus", "type", "category", "criticality", "code", "patient",
                               "encounter", "onset[x]", "recordedDate", "asserter", "lastOccurrence"],
        "Practitioner": ["identifier", "active", "name", "telecom", "address", "gender", "birthDate"],
        "Organization": ["identifier", "active", "type", "name", "alias", "telecom", "address", "partOf", "endpoint"],
    ]

    /// Summary elements of a type (the minimal set for types not in the table).
    public static func summaryElements(_ type: String) -> Set<String> {
        summaryElementsByType[type] ?? ["identifier", "status", "code", "category", "subject", "patient", "date", "created", "name", "type"]
    }

    /// Modifiers a parameter accepts (for the CapabilityStatement and diagnostics).
    public static func modifiers(_ parameter: SearchParameter) -> [String] {
        var out = ["missing"]
        if parameter.kind == .token, parameter.target == .value { out.append("not") }
        if parameter.target == .blind(.name), parameter.kind == .string { out.append("exact") }
        return out
    }
}
