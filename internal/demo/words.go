package demo

// The word lists below are the only package-level variables: constant data
// that tenant names, people and TODO titles are drawn from. Their order is
// part of the output, so append rather than reorder to keep old seeds stable.

// companyWords is the first half of a company name ("Acme" in Acme Logistics).
var companyWords = []string{
	"acme", "apex", "aurora", "beacon", "birch", "blue", "bright", "cedar",
	"cobalt", "copper", "crescent", "delta", "ember", "evergreen", "falcon",
	"fern", "golden", "granite", "harbor", "hazel", "indigo", "iron",
	"juniper", "kestrel", "lark", "lumen", "maple", "meadow", "nimbus",
	"north", "oak", "onyx", "orbit", "pine", "pioneer", "quartz", "redwood",
	"river", "sage", "sierra", "silver", "summit", "tandem", "terra",
	"tidal", "union", "vertex", "violet", "willow", "zenith",
}

// industryWords is the second half of a company name.
var industryWords = []string{
	"academy", "analytics", "apparel", "bakery", "builders", "capital",
	"clinic", "consulting", "dental", "design", "energy", "events",
	"farms", "fitness", "foods", "health", "interiors", "labs", "legal",
	"logistics", "media", "motors", "partners", "realty", "robotics",
	"software", "solar", "studio", "systems", "travel", "ventures", "works",
}

var firstNames = []string{
	"Ada", "Aisha", "Alex", "Amara", "Ana", "Ben", "Carlos", "Chen", "Chloe",
	"Daniel", "Diego", "Elena", "Emma", "Farah", "Grace", "Hana", "Hugo",
	"Ines", "Ivan", "Jack", "James", "Jin", "Kai", "Kofi", "Laura", "Leo",
	"Lina", "Lucas", "Maya", "Mei", "Mohammed", "Nadia", "Noah", "Olga",
	"Omar", "Priya", "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq",
	"Tom", "Uma", "Victor", "Wei", "Yara", "Yusuf", "Zoe",
}

// lastNames holds one name with an apostrophe on purpose: it keeps the SQL
// literal quoting honest in every generated fleet.
var lastNames = []string{
	"Adeyemi", "Andersen", "Bauer", "Becker", "Chen", "Costa", "Dubois",
	"Fischer", "Garcia", "Gonzalez", "Haddad", "Hansen", "Ito", "Jensen",
	"Kim", "Kowalski", "Kumar", "Larsen", "Lopez", "Martin", "Mensah",
	"Moreau", "Müller", "Nakamura", "Nguyen", "Novak", "O'Brien", "Okafor",
	"Patel", "Petrov", "Rossi", "Santos", "Schmidt", "Silva", "Singh",
	"Smith", "Tanaka", "Walker", "Wang", "Yilmaz",
}

var todoVerbs = []string{
	"Call", "Email", "Review", "Update", "Draft", "Fix", "Schedule",
	"Prepare", "Send", "Book", "Order", "Plan", "Check", "Write",
	"Clean up", "Follow up on", "Renew", "Pay", "Ship", "Test", "Archive",
	"Sign", "Approve", "Research",
}

var todoObjects = []string{
	"invoice", "supplier contract", "onboarding doc", "team offsite",
	"quarterly report", "website copy", "payroll", "customer feedback",
	"release notes", "budget", "insurance", "inventory", "pitch deck",
	"job posting", "office lease", "newsletter", "checkout bug",
	"tax filing", "vendor list", "meeting notes", "product photos",
	"sales forecast", "support backlog", "hiring plan", "board update",
	"domain renewal", "shipping labels", "price list", "training session",
	"security review",
}

var todoSuffixes = []string{
	" by Friday", " (urgent)", " for the client", " before launch",
	" with finance", " for next week", " again", " v2",
}

var listNames = []string{
	"Marketing", "Sales", "Ops", "Hiring", "Finance", "Product",
	"Customer success", "Launch", "Office", "Website", "Errands",
	"Roadmap", "Backlog", "Events", "Partnerships", "Support",
}
