"""The built-in rule sets of the ``rules`` classifier, tuned for image-generation prompts.

Pattern syntax (see ``rules.py``): words match whole words; ``word*`` matches any
word starting with ``word``; a lone ``*`` matches any one word; ``a|b`` is either;
``x & y`` (or a list of parts) needs every part somewhere in the prompt; ``re:``
starts a raw regular expression over the normalised text.

The sets aim at what an image model should not draw, not at words: "shoot",
"kill", "blood" or "cut" alone are everyday words ("shoot a photo", "killer
app", "blood orange", "paper cut"), so violence needs a graphic phrase, and the
minors set needs a minor *and* a sexual term in the same prompt.
Slurs are deliberately not shipped: which words to refuse is a policy choice,
so supply them through ``file=`` or ``categories=``.
"""

from __future__ import annotations

from collections.abc import Mapping

from .categories import HATE, SELF_HARM, SEXUAL, SEXUAL_MINORS, VIOLENCE

Rule = str | tuple[str, ...]

_MINOR = (
    "child|children|childs|kid|kids|kiddie|minor|minors|underage|under age|preteen*|pre teen*"
    "|tween|tweens|toddler*|infant*|baby|babies|little girl*|little boy*|young girl*"
    "|young boy*|schoolgirl*|schoolboy*|school girl*|school boy*|teen|teens|teenage*"
    "|juvenile*|grade schooler*|middle schooler*|elementary school*|loli|shota"
)
_MINOR_AGE = r"re:(?<!\d)(?:[1-9]|1[0-7])\s*-?\s*(?:years?|yrs?|y)\s*-?\s*(?:old|o)(?!\w)"
_SEXUAL = (
    "nude|nudes|naked|nudity|sex|sexy|sexual*|sexualiz*|sexualis*|erotic*|porn*|lingerie"
    "|topless|bottomless|undress*|unclothed|no clothes|without clothes|nsfw|lewd"
    "|seductive*|sensual*|provocative*|genital*|fetish*|striptease|stripper*|hentai|ecchi"
    "|onlyfans|boudoir|aroused|orgasm*|bdsm|bondage|strip club*|strip joint*"
    "|underwear|panties|upskirt*|see through|skimpy"
)

SEXUAL_MINORS_RULES: tuple[Rule, ...] = (
    "child porn*|kiddie porn*|csam|lolicon|shotacon|jailbait|pedophil*|paedophil*|pedo|pedos",
    (_MINOR, _SEXUAL),
    (_MINOR_AGE, _SEXUAL),
    ("child bride*|child wife|child wives", "wedding night|bed|bedroom|honeymoon"),
)

_BODY = r"(?:arms?|legs?|hands?|heads?|fingers?|limbs?|foot|feet|ears?|nose|tongue)"
_CUT_VERB = (
    r"(?:chop|chops|chopped|chopping|cut|cuts|cutting|hack|hacks|hacked|hacking|saw|sawing|sawed"
    r"|rip|rips|ripping|ripped|tear|tearing|tore|blew|blow|blowing|blown)"
)
_POSSESSIVE = r"(?:his|her|their|my|your|the|a|someone\s*s)"

VIOLENCE_RULES: tuple[Rule, ...] = (
    "graphic violence|gore|gory|gorey|gruesome|bloodbath|carnage|massacre*",
    "dismember*|decapitat*|beheading*|beheaded|behead|disembowel*|eviscerat*|mutilat*",
    "flayed|flaying|skinned alive|burned alive|burnt alive|burning alive",
    (
        "impaled|impaling",
        "body|bodies|man|men|woman|women|person|people|corpse*|soldier*|victim*|prisoner*|head*",
    ),
    "severed head*|severed limb*|severed arm*|severed leg*|severed finger*|chopped off head*",
    rf"re:\b{_BODY}\s+(?:being\s+|getting\s+)?(?:chopped|cut|hacked|torn|ripped|sawn|sawed"
    rf"|blown|bitten)\s+off\b",
    rf"re:\b{_CUT_VERB}\s+{_POSSESSIVE}\s+(?:\w+\s+)?{_BODY}\s+off\b",
    rf"re:\b{_CUT_VERB}\s+off\s+{_POSSESSIVE}\s+(?:\w+\s+)?{_BODY}\b",
    "blown to pieces|blown to bits|blown apart|brains blown out|exploded bod*|torn limb from limb"
    "|body torn apart|bodies torn apart",
    r"re:\bguts\s+(?:\w+\s+)?(?:hanging|spilling|spilled|ripped|everywhere|out)\b"
    r"|\bintestines\s+(?:hanging|spilling|spilled|ripped)",
    r"re:\b(?:severed|scattered|dismembered|human)\s+body\s+parts\b"
    r"|\bbody\s+parts\s+(?:scattered|everywhere|strewn)\b",
    "human flesh|cannibalism|stab wound*|bullet riddled bod*|riddled with bullets",
    "murder victim*|murdered bod*|chainsaw murder*|waterboard*|tortured to death",
    "blood soaked|soaked in blood|blood drenched|drenched in blood|pool of blood|pools of blood",
    "blood splatter*|splattered blood|spurting blood|gushing blood|blood gushing",
    "entrails|spilled guts|spilling guts|guts spilling|intestines spilling|exposed organs",
    "mangled bod*|mangled corpse*|bloody corpse*|mutilated bod*|dead bodies piled|pile of corpses",
    "mass shooting|school shooting|shooting spree|shooting rampage|gunning down|gunned down",
    "shot in the head|shooting * in the head|shot dead in|execution style",
    r"re:\b(?:stab|stabs|stabbing|stabbed|beat|beating|beaten|hack|hacking|hacked|strangl\w*"
    r"|chok\w*|burn|burning|burned|bludgeon\w*|kick|kicking|kicked|crush\w*)\s+(?:\w+\s+){0,3}"
    r"to\s+death\b",
    "bludgeon*",
    "slit * throat|slitting * throat|throat slit|cut * throat|cutting * throat",
    "torturing|being tortured|torture victim*|torture scene*|lynching|lynched",
    r"re:\bexecut\w*\s+(?:of\s+)?(?:a\s+|the\s+|two\s+|three\s+)?(?:prisoners?|hostages?|captives?"
    r"|civilians?)\b",
    "public execution*",
    "killing civilians|killing children|killing innocents|murdering *",
    "snuff film*|war crime photo*|genocide scene*",
)

SELF_HARM_RULES: tuple[Rule, ...] = (
    "suicide|suicidal|self harm|selfharm|self harming|self injury|self injur*|self inflicted",
    "kill myself|killing myself|killed myself|end it all|ending it all",
    r"re:\b(?:shoot|shoots|shooting|shot|hang|hangs|hanging|hanged|kill|kills|killing|killed|stab"
    r"|stabs|stabbing|stabbed|burn|burns|burning|burned|poison\w*|drown\w*|starv\w*|cut|cuts"
    r"|cutting)\s+(?:myself|himself|herself|themselves|yourself)\b(?!\s+in\s+the\s+foot)",
    r"re:\b(?:cut|cuts|cutting|slice|slices|slicing|sliced|slash|slashes|slashing|slashed|carve"
    r"|carving|carved)\s+(?:my|her|his|their|your)\s+(?:own\s+)?(?:arms?|wrists?|legs?|thighs?"
    r"|skin|stomach|forearms?)\b",
    r"re:\bgun\s+to\s+(?:my|his|her|their|your)\s+(?:own\s+)?head\b|\bdrink\w*\s+bleach\b",
    (
        "pills|pill bottle|razor|noose|rope",
        "goodbye letter|goodbye note|farewell letter|farewell note",
    ),
    (
        "hanging from a rope|hanging from the ceiling|hanging from a beam|hanging from a tree",
        "dead|lifeless|body|corpse",
    ),
    r"re:\b(?:end|ends|ending|ended|take|takes|taking|took|taken)\s+(?:my|his|her|their|your)"
    r"\s+(?:own\s+)?life\b(?![\s\w]{0,3}(?:savings|story|stories|insurance|work|cycle|partner))",
    "cutting myself|cut myself|cutting herself|cutting himself|cutting themselves",
    "slit * wrists|slit wrists|slitting * wrists|slashed wrists|slashing * wrists|wrist cutting",
    "cutting * wrists|cut wrists|bleeding wrists",
    "hang myself|hanging myself|hanged herself|hanged himself|hanging herself|hanging himself",
    ("noose", "neck|hang|hanging|hanged|hangs|myself|herself|himself|themselves|suicid*"),
    "overdosing|overdose on pills|overdosed on pills|swallowing pills to die",
    r"re:\b(?:jump|jumps|jumping|jumped|leap|leaps|leaping|leapt)\s+(?:off\s+\w+\s+\w+\s+)?"
    r"to\s+(?:my|his|her|their|your)\s+death\b",
    "jump off * bridge to die",
    "pro ana|proana|thinspo*|starving myself|starve myself|purging after eating",
)

_GROUPS = (
    "jews", "jewish people", "muslims", "blacks", "black people", "immigrants", "mexicans",
    "gays", "gay people", "asians", "arabs", "christians", "hindus", "sikhs", "refugees",
    "gypsies", "roma", "latinos", "africans", "women", "trans people", "transgender people",
    "chinese people", "indians", "migrants", "foreigners",
)  # fmt: skip
_GROUP = "|".join(_GROUPS)
_GROUP_RE = "(?:" + "|".join(g.replace(" ", r"\s+") for g in _GROUPS) + ")"
_VERMIN = "(?:rats|apes|monkeys|animals|pigs|insects|vermin|cockroaches|parasites|dogs)"

HATE_RULES: tuple[Rule, ...] = (
    "white power|white supremac*|master race|inferior race*|racial purity|race war"
    "|ethnic cleansing|white genocide|great replacement",
    "heil hitler|sieg heil|1488|kkk|ku klux klan|neo nazi*|neonazi*|nazi propaganda",
    "swastika flag*|nazi flag*|burning cross*|cross burning",
    "aryan supremac*|aryan race|aryan pride|white pride|sonnenrad|third reich propaganda",
    "celebrating the holocaust|holocaust denial|holocaust was a hoax|holocaust never happened",
    ("swastika*", "synagogue*|mosque*|church*|grave*|jewish|cemetery|cemeteries"),
    ("hook nosed|hook nose*", "jew|jews|jewish"),
    ("slant* eyes|slanty eyes", "mock*|caricature*|racist|cartoon*"),
    (
        "jew|jews|jewish",
        "control the world|control the media|control the banks|run the world|world domination"
        "|globalist cabal",
    ),
    "antisemitic|anti semitic|racist caricature*|racist cartoon*|blackface",
    (
        _GROUP,
        "subhuman*|vermin|untermensch*|cockroaches|parasites|savages|degenerates|inferior"
        "|exterminate|exterminated|extermination|exterminating",
    ),
    (
        _GROUP,
        rf"re:\b(?:portrayed|depicted|drawn|shown|caricatured)\s+as\s+{_VERMIN}\b"
        rf"|\bare\s+(?:just\s+|all\s+)?{_VERMIN}\b",
    ),
    rf"re:\b{_GROUP_RE}\s+as\s+{_VERMIN}\b",
    rf"re:\b(?:calling|call|calls|called)\s+{_GROUP_RE}\s+{_VERMIN}\b",
    rf"re:\b{_GROUP_RE}\s+(?:are|is)\s+(?:all\s+|just\s+|a\s+)?(?:terrorists|criminals|rapists"
    rf"|disease|plague|cancer|invaders|scum|subhuman|inferior|evil|filth|monkeys|animals)\b",
    rf"re:\b{_GROUP_RE}\s+(?:should|must|deserve\s+to|need\s+to)\s+(?:all\s+)?(?:burn|die"
    rf"|be\s+killed|be\s+exterminated|be\s+stopped|be\s+eliminated|be\s+deported|be\s+gassed"
    rf"|be\s+shot|hang)\b",
    rf"re:\b(?:death\s+to|gas\s+the|kill\s+all|kill\s+the|deport\s+all|hang\s+all"
    rf"|exterminate\s+all|exterminate\s+the|wipe\s+out\s+the|wipe\s+out\s+all)\s+"
    rf"(?:the\s+)?{_GROUP_RE}\b",
)

#: Opt-in: explicit adult sexual content (not in the default set: many products allow
#: suggestive adult imagery and the providers refuse explicit content themselves).
SEXUAL_RULES: tuple[Rule, ...] = (
    "porn*|pornograph*|hardcore|xxx|nsfw|explicit sex|sex act*|sex scene*|having sex|intercourse",
    "nude|nudes|naked|fully nude|topless|bottomless|genital*|nipples|erotic*|hentai|onlyfans",
    "orgasm*|masturbat*|blowjob*|fellatio|cunnilingus|penetration|bdsm|bondage|fetish*",
)

BUILTIN_CATEGORIES: Mapping[str, tuple[Rule, ...]] = {
    SEXUAL_MINORS: SEXUAL_MINORS_RULES,
    VIOLENCE: VIOLENCE_RULES,
    SELF_HARM: SELF_HARM_RULES,
    HATE: HATE_RULES,
    SEXUAL: SEXUAL_RULES,
}

#: The categories used when none are configured.
DEFAULT_CATEGORY_NAMES: tuple[str, ...] = (SEXUAL_MINORS, VIOLENCE, SELF_HARM, HATE)

#: Benign phrases that contain words of the sets above; masked before matching.
DEFAULT_ALLOWLIST: tuple[str, ...] = (
    "suicide squad",
    "suicide door*",
    "suicide squeeze",
    "suicide king*",
    "suicide prevention",
    "suicide awareness",
    "suicide hotline",
    "suicide crisis line",
    "suicide lane",
    "against white supremac*",
    "pc master race",
    "al gore",
    "gore tex",
    "gore vidal",
    "lesley gore",
    "teenage mutant ninja turtle*",
    "massacre of the innocents",
    "texas chainsaw massacre",
    "boston massacre",
)

__all__ = [
    "BUILTIN_CATEGORIES",
    "DEFAULT_ALLOWLIST",
    "DEFAULT_CATEGORY_NAMES",
    "HATE_RULES",
    "SELF_HARM_RULES",
    "SEXUAL_MINORS_RULES",
    "SEXUAL_RULES",
    "VIOLENCE_RULES",
    "Rule",
]
