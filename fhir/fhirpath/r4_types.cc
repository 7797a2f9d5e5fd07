// FHIR R4 (4.0.1) type table for the FHIRPath engine.
//
// One line per type:  [!][~]Name : Base | element type, element type, name[x] T1|T2, ...
//   '!' = the element list is complete (unknown names are errors in strict mode)
//   '~' = primitive type
//   'name[x] *' = choice of every FHIR data type (Extension.value[x] and the like)
// Backbone elements are named "Resource.path" and used as element types.
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "fhir/fhirpath/model.h"

namespace fhir::fhirpath::model {
namespace {

const char* const kTypeTable[] = {
    // Primitive types.
    "!~boolean : Element |",
    "!~integer : Element |",
    "!~string : Element |",
    "!~decimal : Element |",
    "!~uri : Element |",
    "!~url : uri |",
    "!~canonical : uri |",
    "!~uuid : uri |",
    "!~oid : uri |",
    "!~base64Binary : Element |",
    "!~instant : Element |",
    "!~date : Element |",
    "!~dateTime : Element |",
    "!~time : Element |",
    "!~code : string |",
    "!~id : string |",
    "!~markdown : string |",
    "!~unsignedInt : integer |",
    "!~positiveInt : integer |",
    "!~xhtml : Element |",
    // General-purpose data types. "Base" types JSON objects the model does not describe
    // (an element unknown to an incomplete type, a resource without resourceType).
    "Base : |",
    "!Element : |id string, extension Extension",
    "!BackboneElement : Element | modifierExtension Extension",
    "!Extension : Element | url uri, value[x] *",
    "!Narrative : Element | status code, div xhtml",
    "!Coding : Element | system uri, version string, code code, display string, "
    "userSelected boolean",
    "!CodeableConcept : Element | coding Coding, text string",
    "!Quantity : Element | value decimal, comparator code, unit string, system uri, code code",
    "!Age : Quantity |",
    "!Count : Quantity |",
    "!Distance : Quantity |",
    "!Duration : Quantity |",
    "!MoneyQuantity : Quantity |",
    "!SimpleQuantity : Quantity |",
    "!Money : Element | value decimal, currency code",
    "!Range : Element | low Quantity, high Quantity",
    "!Ratio : Element | numerator Quantity, denominator Quantity",
    "!Period : Element | start dateTime, end dateTime",
    "!Identifier : Element | use code, type CodeableConcept, system uri, value string, "
    "period Period, assigner Reference",
    "!Reference : Element | reference string, type uri, identifier Identifier, display string",
    "!HumanName : Element | use code, text string, family string, given string, prefix string, "
    "suffix string, period Period",
    "!Address : Element | use code, type code, text string, line string, city string, "
    "district string, state string, postalCode string, country string, period Period",
    "!ContactPoint : Element | system code, value string, use code, rank positiveInt, "
    "period Period",
    "!Attachment : Element | contentType code, language code, data base64Binary, url url, "
    "size unsignedInt, hash base64Binary, title string, creation dateTime",
    "!Annotation : Element | author[x] Reference|string, time dateTime, text markdown",
    "!Meta : Element | versionId id, lastUpdated instant, source uri, profile canonical, "
    "security Coding, tag Coding",
    "!SampledData : Element | origin Quantity, period decimal, factor decimal, "
    "lowerLimit decimal, upperLimit decimal, dimensions positiveInt, data string",
    "!Signature : Element | type Coding, when instant, who Reference, onBehalfOf Reference, "
    "targetFormat code, sigFormat code, data base64Binary",
    "!Timing : BackboneElement | event dateTime, repeat Timing.repeat, code CodeableConcept",
    "!Timing.repeat : Element | bounds[x] Duration|Range|Period, count positiveInt, "
    "countMax positiveInt, duration decimal, durationMax decimal, durationUnit code, "
    "frequency positiveInt, frequencyMax positiveInt, period decimal, periodMax decimal, "
    "periodUnit code, dayOfWeek code, timeOfDay time, when code, offset unsignedInt",
    "!ContactDetail : Element | name string, telecom ContactPoint",
    "!UsageContext : Element | code Coding, value[x] CodeableConcept|Quantity|Range|Reference",
    "Dosage : BackboneElement | sequence integer, text string, "
    "additionalInstruction CodeableConcept, patientInstruction string, timing Timing, "
    "asNeeded[x] boolean|CodeableConcept, site CodeableConcept, route CodeableConcept, "
    "method CodeableConcept",
    "Expression : Element | description string, name id, language code, expression string, "
    "reference uri",
    "RelatedArtifact : Element | type code, label string, display string, citation markdown, "
    "url url, document Attachment, resource canonical",
    "DataRequirement : Element | type code, profile canonical",
    "ParameterDefinition : Element | name code, use code, min integer, max string, "
    "documentation string, type code, profile canonical",
    "TriggerDefinition : Element | type code, name string",
    "Contributor : Element | type code, name string, contact ContactDetail",
    "ElementDefinition : BackboneElement | path string",
    "MarketingStatus : BackboneElement |",
    "Population : BackboneElement |",
    "ProdCharacteristic : BackboneElement |",
    "ProductShelfLife : BackboneElement |",
    "SubstanceAmount : BackboneElement |",
    // Resources.
    "!Resource : | id id, meta Meta, implicitRules uri, language code",
    "!DomainResource : Resource | text Narrative, contained Resource, extension Extension, "
    "modifierExtension Extension",
    "!Patient : DomainResource | identifier Identifier, active boolean, name HumanName, "
    "telecom ContactPoint, gender code, birthDate date, deceased[x] boolean|dateTime, "
    "address Address, maritalStatus CodeableConcept, multipleBirth[x] boolean|integer, "
    "photo Attachment, contact Patient.contact, communication Patient.communication, "
    "generalPractitioner Reference, managingOrganization Reference, link Patient.link",
    "!Patient.contact : BackboneElement | relationship CodeableConcept, name HumanName, "
    "telecom ContactPoint, address Address, gender code, organization Reference, period Period",
    "!Patient.communication : BackboneElement | language CodeableConcept, preferred boolean",
    "!Patient.link : BackboneElement | other Reference, type code",
    "!Observation : DomainResource | identifier Identifier, basedOn Reference, partOf Reference, "
    "status code, category CodeableConcept, code CodeableConcept, subject Reference, "
    "focus Reference, encounter Reference, effective[x] dateTime|Period|Timing|instant, "
    "issued instant, performer Reference, value[x] Quantity|CodeableConcept|string|boolean|"
    "integer|Range|Ratio|SampledData|time|dateTime|Period, dataAbsentReason CodeableConcept, "
    "interpretation CodeableConcept, note Annotation, bodySite CodeableConcept, "
    "method CodeableConcept, specimen Reference, device Reference, "
    "referenceRange Observation.referenceRange, hasMember Reference, derivedFrom Reference, "
    "component Observation.component",
    "!Observation.referenceRange : BackboneElement | low Quantity, high Quantity, "
    "type CodeableConcept, appliesTo CodeableConcept, age Range, text string",
    "!Observation.component : BackboneElement | code CodeableConcept, value[x] Quantity|"
    "CodeableConcept|string|boolean|integer|Range|Ratio|SampledData|time|dateTime|Period, "
    "dataAbsentReason CodeableConcept, interpretation CodeableConcept, "
    "referenceRange Observation.referenceRange",
    "!Questionnaire : DomainResource | url uri, identifier Identifier, version string, "
    "name string, title string, derivedFrom canonical, status code, experimental boolean, "
    "subjectType code, date dateTime, publisher string, contact ContactDetail, "
    "description markdown, useContext UsageContext, jurisdiction CodeableConcept, "
    "purpose markdown, copyright markdown, approvalDate date, lastReviewDate date, "
    "effectivePeriod Period, code Coding, item Questionnaire.item",
    "!Questionnaire.item : BackboneElement | linkId string, definition uri, code Coding, "
    "prefix string, text string, type code, enableWhen Questionnaire.item.enableWhen, "
    "enableBehavior code, required boolean, repeats boolean, readOnly boolean, "
    "maxLength integer, answerValueSet canonical, answerOption Questionnaire.item.answerOption, "
    "initial Questionnaire.item.initial, item Questionnaire.item",
    "!Questionnaire.item.enableWhen : BackboneElement | question string, operator code, "
    "answer[x] boolean|decimal|integer|date|dateTime|time|string|Coding|Quantity|Reference",
    "!Questionnaire.item.answerOption : BackboneElement | value[x] integer|date|time|string|"
    "Coding|Reference, initialSelected boolean",
    "!Questionnaire.item.initial : BackboneElement | value[x] boolean|decimal|integer|date|"
    "dateTime|time|string|uri|Attachment|Coding|Quantity|Reference",
    "!QuestionnaireResponse : DomainResource | identifier Identifier, basedOn Reference, "
    "partOf Reference, questionnaire canonical, status code, subject Reference, "
    "encounter Reference, authored dateTime, author Reference, source Reference, "
    "item QuestionnaireResponse.item",
    "!QuestionnaireResponse.item : BackboneElement | linkId string, definition uri, text string, "
    "answer QuestionnaireResponse.item.answer, item QuestionnaireResponse.item",
    "!QuestionnaireResponse.item.answer : BackboneElement | value[x] boolean|decimal|integer|"
    "date|dateTime|time|string|uri|Attachment|Coding|Quantity|Reference, "
    "item QuestionnaireResponse.item",
    "!CodeSystem : DomainResource | url uri, identifier Identifier, version string, name string, "
    "title string, status code, experimental boolean, date dateTime, publisher string, "
    "contact ContactDetail, description markdown, useContext UsageContext, "
    "jurisdiction CodeableConcept, purpose markdown, copyright markdown, caseSensitive boolean, "
    "valueSet canonical, hierarchyMeaning code, compositional boolean, versionNeeded boolean, "
    "content code, supplements canonical, count unsignedInt, filter CodeSystem.filter, "
    "property CodeSystem.property, concept CodeSystem.concept",
    "!CodeSystem.filter : BackboneElement | code code, description string, operator code, "
    "value string",
    "!CodeSystem.property : BackboneElement | code code, uri uri, description string, type code",
    "!CodeSystem.concept : BackboneElement | code code, display string, definition string, "
    "designation CodeSystem.concept.designation, property CodeSystem.concept.property, "
    "concept CodeSystem.concept",
    "!CodeSystem.concept.designation : BackboneElement | language code, use Coding, value string",
    "!CodeSystem.concept.property : BackboneElement | code code, value[x] code|Coding|string|"
    "integer|boolean|dateTime|decimal",
    "!ValueSet : DomainResource | url uri, identifier Identifier, version string, name string, "
    "title string, status code, experimental boolean, date dateTime, publisher string, "
    "contact ContactDetail, description markdown, useContext UsageContext, "
    "jurisdiction CodeableConcept, immutable boolean, purpose markdown, copyright markdown, "
    "compose ValueSet.compose, expansion ValueSet.expansion",
    "!ValueSet.compose : BackboneElement | lockedDate date, inactive boolean, "
    "include ValueSet.compose.include, exclude ValueSet.compose.include",
    "!ValueSet.compose.include : BackboneElement | system uri, version string, "
    "concept ValueSet.compose.include.concept, filter ValueSet.compose.include.filter, "
    "valueSet canonical",
    "!ValueSet.compose.include.concept : BackboneElement | code code, display string, "
    "designation ValueSet.compose.include.concept.designation",
    "!ValueSet.compose.include.concept.designation : BackboneElement | language code, "
    "use Coding, value string",
    "!ValueSet.compose.include.filter : BackboneElement | property code, op code, value string",
    "!ValueSet.expansion : BackboneElement | identifier uri, timestamp dateTime, total integer, "
    "offset integer, parameter ValueSet.expansion.parameter, "
    "contains ValueSet.expansion.contains",
    "!ValueSet.expansion.parameter : BackboneElement | name string, value[x] string|boolean|"
    "integer|decimal|uri|code|dateTime",
    "!ValueSet.expansion.contains : BackboneElement | system uri, abstract boolean, "
    "inactive boolean, version string, code code, display string, "
    "designation ValueSet.compose.include.concept.designation, "
    "contains ValueSet.expansion.contains",
    "!Parameters : Resource | parameter Parameters.parameter",
    "!Parameters.parameter : BackboneElement | name string, value[x] *, resource Resource, "
    "part Parameters.parameter",
    "!Appointment : DomainResource | identifier Identifier, status code, "
    "cancelationReason CodeableConcept, serviceCategory CodeableConcept, "
    "serviceType CodeableConcept, specialty CodeableConcept, appointmentType CodeableConcept, "
    "reasonCode CodeableConcept, reasonReference Reference, priority unsignedInt, "
    "description string, supportingInformation Reference, start instant, end instant, "
    "minutesDuration positiveInt, slot Reference, created dateTime, comment string, "
    "patientInstruction string, basedOn Reference, participant Appointment.participant, "
    "requestedPeriod Period",
    "!Appointment.participant : BackboneElement | type CodeableConcept, actor Reference, "
    "required code, status code, period Period",
    "ExplanationOfBenefit : DomainResource | identifier Identifier, status code, "
    "type CodeableConcept, subType CodeableConcept, use code, patient Reference, "
    "billablePeriod Period, created dateTime, enterer Reference, insurer Reference, "
    "provider Reference, priority CodeableConcept, referral Reference, facility Reference, "
    "claim Reference, claimResponse Reference, outcome code, disposition string, "
    "preAuthRef string, supportingInfo ExplanationOfBenefit.supportingInfo, "
    "item ExplanationOfBenefit.item, total ExplanationOfBenefit.total, "
    "payment ExplanationOfBenefit.payment",
    "ExplanationOfBenefit.supportingInfo : BackboneElement | sequence positiveInt, "
    "category CodeableConcept, code CodeableConcept, timing[x] date|Period, "
    "value[x] boolean|string|Quantity|Attachment|Reference, reason Coding",
    "ExplanationOfBenefit.item : BackboneElement | sequence positiveInt, "
    "careTeamSequence positiveInt, diagnosisSequence positiveInt, "
    "procedureSequence positiveInt, informationSequence positiveInt, revenue CodeableConcept, "
    "category CodeableConcept, productOrService CodeableConcept, modifier CodeableConcept, "
    "programCode CodeableConcept, serviced[x] date|Period, "
    "location[x] CodeableConcept|Address|Reference, quantity Quantity, unitPrice Money, "
    "factor decimal, net Money, udi Reference, bodySite CodeableConcept, "
    "subSite CodeableConcept, encounter Reference, noteNumber positiveInt",
    "ExplanationOfBenefit.total : BackboneElement | category CodeableConcept, amount Money",
    "ExplanationOfBenefit.payment : BackboneElement | type CodeableConcept, date date, "
    "amount Money, adjustment Money, identifier Identifier",
    "!Condition : DomainResource | identifier Identifier, clinicalStatus CodeableConcept, "
    "verificationStatus CodeableConcept, category CodeableConcept, severity CodeableConcept, "
    "code CodeableConcept, bodySite CodeableConcept, subject Reference, encounter Reference, "
    "onset[x] dateTime|Age|Period|Range|string, abatement[x] dateTime|Age|Period|Range|string, "
    "recordedDate dateTime, recorder Reference, asserter Reference, stage Condition.stage, "
    "evidence Condition.evidence, note Annotation",
    "!Condition.stage : BackboneElement | summary CodeableConcept, assessment Reference, "
    "type CodeableConcept",
    "!Condition.evidence : BackboneElement | code CodeableConcept, detail Reference",
    "ServiceRequest : DomainResource | identifier Identifier, instantiatesCanonical canonical, "
    "instantiatesUri uri, basedOn Reference, replaces Reference, requisition Identifier, "
    "status code, intent code, category CodeableConcept, priority code, doNotPerform boolean, "
    "code CodeableConcept, orderDetail CodeableConcept, quantity[x] Quantity|Ratio|Range, "
    "subject Reference, encounter Reference, occurrence[x] dateTime|Period|Timing, "
    "asNeeded[x] boolean|CodeableConcept, authoredOn dateTime, requester Reference, "
    "performerType CodeableConcept, performer Reference, locationCode CodeableConcept, "
    "locationReference Reference, reasonCode CodeableConcept, reasonReference Reference, "
    "insurance Reference, supportingInfo Reference, specimen Reference, "
    "bodySite CodeableConcept, note Annotation, patientInstruction string, "
    "relevantHistory Reference",
    "Task : DomainResource | identifier Identifier, instantiatesCanonical canonical, "
    "instantiatesUri uri, basedOn Reference, groupIdentifier Identifier, partOf Reference, "
    "status code, statusReason CodeableConcept, businessStatus CodeableConcept, intent code, "
    "priority code, code CodeableConcept, description string, focus Reference, for Reference, "
    "encounter Reference, executionPeriod Period, authoredOn dateTime, lastModified dateTime, "
    "requester Reference, performerType CodeableConcept, owner Reference, "
    "location Reference, reasonCode CodeableConcept, reasonReference Reference, "
    "insurance Reference, note Annotation, relevantHistory Reference, input Task.input, "
    "output Task.output",
    "Task.input : BackboneElement | type CodeableConcept, value[x] *",
    "Task.output : BackboneElement | type CodeableConcept, value[x] *",
    "Goal : DomainResource | identifier Identifier, lifecycleStatus code, "
    "achievementStatus CodeableConcept, category CodeableConcept, priority CodeableConcept, "
    "description CodeableConcept, subject Reference, start[x] date|CodeableConcept, "
    "target Goal.target, statusDate date, statusReason string, expressedBy Reference, "
    "addresses Reference, note Annotation, outcomeCode CodeableConcept, "
    "outcomeReference Reference",
    "Goal.target : BackboneElement | measure CodeableConcept, detail[x] Quantity|Range|"
    "CodeableConcept|string|boolean|integer|Ratio, due[x] date|Duration",
    "Procedure : DomainResource | identifier Identifier, basedOn Reference, partOf Reference, "
    "status code, statusReason CodeableConcept, category CodeableConcept, "
    "code CodeableConcept, subject Reference, encounter Reference, "
    "performed[x] dateTime|Period|string|Age|Range, recorder Reference, asserter Reference, "
    "reasonCode CodeableConcept, reasonReference Reference, bodySite CodeableConcept, "
    "outcome CodeableConcept, note Annotation",
    "Encounter : DomainResource | identifier Identifier, status code, class Coding, "
    "type CodeableConcept, serviceType CodeableConcept, priority CodeableConcept, "
    "subject Reference, basedOn Reference, period Period, length Duration, "
    "reasonCode CodeableConcept, reasonReference Reference, serviceProvider Reference, "
    "partOf Reference",
    "Consent : DomainResource | identifier Identifier, status code, scope CodeableConcept, "
    "category CodeableConcept, patient Reference, dateTime dateTime, performer Reference, "
    "organization Reference, source[x] Attachment|Reference, policyRule CodeableConcept",
    "Practitioner : DomainResource | identifier Identifier, active boolean, name HumanName, "
    "telecom ContactPoint, address Address, gender code, birthDate date, photo Attachment",
    "Organization : DomainResource | identifier Identifier, active boolean, "
    "type CodeableConcept, name string, alias string, telecom ContactPoint, address Address, "
    "partOf Reference",
    "Bundle : Resource | identifier Identifier, type code, timestamp instant, "
    "total unsignedInt, link Bundle.link, entry Bundle.entry, signature Signature",
    "Bundle.link : BackboneElement | relation string, url uri",
    "Bundle.entry : BackboneElement | link Bundle.link, fullUrl uri, resource Resource, "
    "search Bundle.entry.search, request Bundle.entry.request, "
    "response Bundle.entry.response",
    "Bundle.entry.search : BackboneElement | mode code, score decimal",
    "Bundle.entry.request : BackboneElement | method code, url uri, ifNoneMatch string, "
    "ifModifiedSince instant, ifMatch string, ifNoneExist string",
    "Bundle.entry.response : BackboneElement | status string, location uri, etag string, "
    "lastModified instant, outcome Resource",
};

const char* const kResourceNames =
    "Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse "
    "AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure Bundle "
    "CapabilityStatement CarePlan CareTeam CatalogEntry ChargeItem ChargeItemDefinition Claim "
    "ClaimResponse ClinicalImpression CodeSystem Communication CommunicationRequest "
    "CompartmentDefinition Composition ConceptMap Condition Consent Contract Coverage "
    "CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue Device "
    "DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement DiagnosticReport "
    "DocumentManifest DocumentReference DomainResource EffectEvidenceSynthesis Encounter "
    "Endpoint EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence "
    "EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal "
    "GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization "
    "ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan "
    "Invoice Library Linkage List Location Measure MeasureReport Media Medication "
    "MedicationAdministration MedicationDispense MedicationKnowledge MedicationRequest "
    "MedicationStatement MedicinalProduct MedicinalProductAuthorization "
    "MedicinalProductContraindication MedicinalProductIndication MedicinalProductIngredient "
    "MedicinalProductInteraction MedicinalProductManufactured MedicinalProductPackaged "
    "MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition "
    "MessageHeader MolecularSequence NamingSystem NutritionOrder Observation "
    "ObservationDefinition OperationDefinition OperationOutcome Organization "
    "OrganizationAffiliation Parameters Patient PaymentNotice PaymentReconciliation Person "
    "PlanDefinition Practitioner PractitionerRole Procedure Provenance Questionnaire "
    "QuestionnaireResponse RelatedPerson RequestGroup ResearchDefinition "
    "ResearchElementDefinition ResearchStudy ResearchSubject Resource RiskAssessment "
    "RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen "
    "SpecimenDefinition StructureDefinition StructureMap Subscription Substance "
    "SubstanceNucleicAcid SubstancePolymer SubstanceProtein SubstanceReferenceInformation "
    "SubstanceSourceMaterial SubstanceSpecification SupplyDelivery SupplyRequest Task "
    "TerminologyCapabilities TestReport TestScript ValueSet VerificationResult "
    "VisionPrescription";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

struct Registry {
  std::unordered_map<std::string, TypeInfo, StringHash, std::equal_to<>> types;
  std::unordered_set<std::string, StringHash, std::equal_to<>> resource_names;

  Registry() {
    std::string_view names(kResourceNames);
    while (!names.empty()) {
      size_t sp = names.find(' ');
      resource_names.emplace(names.substr(0, sp));
      if (sp == std::string_view::npos) break;
      names.remove_prefix(sp + 1);
    }
    for (const char* line : kTypeTable) Add(line);
    // Resources without an element table still have a (non-complete) type.
    for (const std::string& r : resource_names) {
      if (types.count(r)) continue;
      TypeInfo t;
      t.name = r;
      t.base = "DomainResource";
      t.resource = true;
      types.emplace(r, std::move(t));
    }
    for (auto& [name, t] : types) {
      if (resource_names.count(name)) t.resource = true;
      auto b = types.find(t.base);
      t.base_info = t.base.empty() || b == types.end() ? nullptr : &b->second;
      for (ElementInfo& e : t.elements) {
        auto et = types.find(e.type);
        e.type_info = e.type.empty() || et == types.end() ? nullptr : &et->second;
      }
    }
    for (auto& [name, t] : types) {
      bool complete = true;
      int guard = 0;
      for (const TypeInfo* x = &t; x && guard < 16; x = x->base_info, ++guard) {
        if (!x->complete) complete = false;
        for (const ElementInfo& e : x->elements) t.all_elements.push_back(&e);
      }
      t.complete_chain = complete;
    }
  }

  void Add(std::string_view line) {
    TypeInfo t;
    while (!line.empty() && (line[0] == '!' || line[0] == '~')) {
      if (line[0] == '!') t.complete = true;
      if (line[0] == '~') t.primitive = true;
      line.remove_prefix(1);
    }
    size_t colon = line.find(" :");
    size_t bar = line.find('|');
    t.name = std::string(Trim(line.substr(0, colon)));
    t.base = std::string(Trim(line.substr(colon + 2, bar - colon - 2)));
    std::string_view rest = line.substr(bar + 1);
    while (!Trim(rest).empty()) {
      size_t comma = rest.find(',');
      std::string_view el = Trim(rest.substr(0, comma));
      size_t sp = el.find(' ');
      ElementInfo e;
      std::string_view name = el.substr(0, sp);
      std::string_view type = Trim(el.substr(sp + 1));
      if (name.size() > 3 && name.substr(name.size() - 3) == "[x]") {
        e.name = std::string(name.substr(0, name.size() - 3));
        while (!type.empty()) {
          size_t p = type.find('|');
          e.choice_types.emplace_back(type.substr(0, p));
          if (p == std::string_view::npos) break;
          type.remove_prefix(p + 1);
        }
      } else {
        e.name = std::string(name);
        e.type = std::string(type);
      }
      t.elements.push_back(std::move(e));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    std::string key = t.name;
    types.emplace(std::move(key), std::move(t));
  }
};

const Registry& Reg() {
  static const Registry* r = new Registry();
  return *r;
}

}  // namespace

const TypeInfo* FindType(std::string_view name) {
  const auto& types = Reg().types;
  auto it = types.find(name);
  return it == types.end() ? nullptr : &it->second;
}

const ElementInfo* FindElement(const TypeInfo* type, std::string_view name) {
  if (!type) return nullptr;
  for (const ElementInfo* e : type->all_elements) {
    if (e->name == name) return e;
  }
  return nullptr;
}

bool IsSubtype(const TypeInfo* t, std::string_view ancestor) {
  for (int guard = 0; t && guard < 16; ++guard, t = t->base_info) {
    if (t->name == ancestor) return true;
  }
  return false;
}

bool IsSubtype(std::string_view type, std::string_view ancestor) {
  if (type == ancestor) return true;
  return IsSubtype(FindType(type), ancestor);
}

bool IsComplete(const TypeInfo* type) { return type && type->complete_chain; }

bool IsResourceName(std::string_view name) { return Reg().resource_names.count(name) > 0; }

bool IsPrimitiveName(std::string_view name) {
  const TypeInfo* t = FindType(name);
  return t && t->primitive;
}

std::string ChoiceSuffixType(std::string_view suffix) {
  if (suffix.empty() || suffix[0] < 'A' || suffix[0] > 'Z') return {};
  std::string lower(suffix);
  lower[0] = static_cast<char>(lower[0] - 'A' + 'a');
  if (IsPrimitiveName(lower)) return lower;
  const TypeInfo* t = FindType(suffix);
  if (t && !t->resource && suffix.find('.') == std::string_view::npos) return std::string(suffix);
  return {};
}

}  // namespace fhir::fhirpath::model
