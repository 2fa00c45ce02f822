"""Seeded prose in several languages for the sample crawl: varied, grammatical enough to pass the
quality filters the way real articles do, and cheap to make (no model, no data set)."""

from __future__ import annotations

import random

TOPICS: dict[str, dict[str, list[str]]] = {
    "gardening": {
        "noun": ["tomato plant", "compost heap", "raised bed", "rose bush", "seed tray", "garden path",
                 "watering can", "herb border", "apple tree", "greenhouse"],
        "verb": ["needs", "shelters", "feeds", "shades", "protects", "outgrows", "surrounds", "supports"],
        "adj": ["healthy", "young", "sunny", "damp", "sheltered", "overgrown", "well drained", "patient"],
        "when": ["the soil warms up in spring", "the first frost arrives", "the summer turns dry",
                 "the leaves begin to fall", "you water in the early morning"],
    },
    "cooking": {
        "noun": ["sourdough loaf", "tomato sauce", "cast iron pan", "vegetable stock", "pastry dough",
                 "spice blend", "risotto", "kitchen knife", "roast chicken", "lentil soup"],
        "verb": ["improves", "balances", "needs", "softens", "seasons", "thickens", "rewards", "complements"],
        "adj": ["simple", "slow cooked", "fragrant", "crisp", "homemade", "rich", "fresh", "hearty"],
        "when": ["the oven is properly preheated", "the onions turn golden", "you rest the dough overnight",
                 "the guests arrive hungry", "you taste as you go"],
    },
    "astronomy": {
        "noun": ["telescope", "lunar eclipse", "star chart", "meteor shower", "red giant", "observatory",
                 "planetary nebula", "binocular view", "comet tail", "night sky"],
        "verb": ["reveals", "outshines", "follows", "obscures", "illuminates", "frames", "guides", "rewards"],
        "adj": ["distant", "faint", "bright", "patient", "clear", "ancient", "remarkable", "careful"],
        "when": ["the moon sets before midnight", "the clouds finally clear", "your eyes adapt to the dark",
                 "the planet reaches opposition", "the city lights are far away"],
    },
    "cycling": {
        "noun": ["touring bike", "mountain trail", "chain ring", "rear derailleur", "bike lane", "saddle bag",
                 "climbing route", "repair kit", "gravel road", "group ride"],
        "verb": ["challenges", "rewards", "slows", "protects", "carries", "connects", "tests", "follows"],
        "adj": ["steep", "quiet", "reliable", "long", "muddy", "scenic", "lightweight", "demanding"],
        "when": ["the wind turns against you", "the road climbs into the hills", "the tyres are properly inflated",
                 "the weather stays dry", "you ride with a steady cadence"],
    },
    "history": {
        "noun": ["market town", "stone bridge", "parish record", "old mill", "railway station", "town hall",
                 "harbour wall", "family archive", "medieval church", "village school"],
        "verb": ["records", "reflects", "survived", "shaped", "replaced", "connects", "explains", "preserves"],
        "adj": ["old", "forgotten", "local", "restored", "famous", "modest", "remarkable", "crumbling"],
        "when": ["the railway reached the valley", "the river flooded in the last century",
                 "the council opened its archive", "the harvest failed", "the mill closed its doors"],
    },
}

ENGLISH_TEMPLATES = [
    "The {adj} {noun} {verb} the {noun2} when {when}.",
    "Many readers ask whether a {adj} {noun} really {verb} the {noun2}; honestly, it depends.",
    "In our experience the {noun} is at its best when {when}.",
    "Remember that every {noun} {verb} a {adj} {noun2} in its own way.",
    "We found that pairing a {adj} {noun} with a {noun2} made everything easier to manage.",
    "If you have never tried it, start small and watch how the {noun} changes over a few weeks.",
    "No single rule applies here, but a {noun} that {verb} the {noun2} is usually a good sign.",
    "Most trouble starts when {when}, so plan ahead.",
    "A {adj} {noun2} costs little and lasts for years with some care.",
    "Our neighbours swear by their {noun}, although it took them a while to get it right.",
    "Last year we made the mistake of ignoring the {noun2} until {when}.",
    "Why does the {noun} matter so much?",
    "Because a {adj} {noun2} {verb} nearly everything around it.",
    "Several of you wrote in after our previous post about the {noun}.",
    "One reader described her {adj} {noun} as the best decision she made all season.",
    "Nobody expects perfection at first.",
    "Keep notes: what worked, what failed, and what you would change about the {noun2}.",
    "Experts disagree about details, yet most agree the {noun} deserves attention when {when}.",
    "Costs vary by region, so compare a few options before buying another {noun2}.",
    "Should you worry about the {noun}?",
    "Probably not, unless {when}.",
    "Patience pays off more often than expensive equipment does.",
    "Our own {adj} {noun} {verb} a {noun2} that we inherited from the previous owners.",
    "For beginners, the simplest approach usually works best.",
    "There are exceptions, of course, and we will cover them in a later article.",
    "Ask at your local club; members are generous with advice about every {noun2}.",
    "Timing is everything, especially when {when}.",
    "Small changes to the {noun} add up over a season.",
    "Take photographs along the way so you can compare progress later.",
    "Finally, enjoy the process rather than rushing toward results.",
]

OTHER_LANGUAGES: dict[str, list[str]] = {
    "de": [
        "Der alte Garten hinter dem Haus braucht im Frühling viel Pflege und Geduld.",
        "Wir haben gelernt, dass ein guter Boden die Grundlage für jede Ernte ist.",
        "Im Sommer gießen wir die Pflanzen am frühen Morgen, bevor die Sonne zu stark wird.",
        "Viele Leser fragen uns, welche Sorten sich für einen kleinen Balkon eignen.",
        "Die Stadtbibliothek bietet jeden Monat einen Vortrag über die Geschichte der Region an.",
        "Nach dem langen Winter freuen sich alle auf die ersten warmen Tage im Jahr.",
        "Mit etwas Übung gelingt das Brot auch ohne teure Küchenmaschine.",
        "Die Brücke über den Fluss wurde vor mehr als zweihundert Jahren gebaut.",
    ],
    "fr": [
        "Le petit marché du village ouvre ses portes chaque samedi matin depuis des décennies.",
        "Nous avons appris qu'une bonne recette demande surtout du temps et de la patience.",
        "Les habitants se souviennent encore de l'hiver où la rivière a gelé complètement.",
        "Il faut arroser les jeunes plantes le soir, lorsque la chaleur de la journée retombe.",
        "La bibliothèque municipale propose des ateliers gratuits pour les enfants pendant les vacances.",
        "Le vieux moulin a été restauré grâce aux dons des familles de la région.",
        "Beaucoup de lecteurs nous demandent comment préparer une bonne soupe de légumes.",
    ],
    "es": [
        "El pequeño pueblo celebra su fiesta mayor cada verano con música y comida tradicional.",
        "Hemos aprendido que una buena receta necesita sobre todo tiempo y paciencia.",
        "Los vecinos recuerdan todavía el invierno en que nevó durante una semana entera.",
        "Conviene regar las plantas jóvenes por la tarde, cuando el calor del día disminuye.",
        "La biblioteca municipal organiza talleres gratuitos para los niños durante las vacaciones.",
        "El antiguo puente de piedra fue restaurado gracias al esfuerzo de toda la comunidad.",
    ],
    "ja": [
        "春になると、庭の桜が一斉に咲き始め、近所の人たちが集まってきます。",
        "この町の図書館では、毎月地元の歴史についての講演会が開かれています。",
        "美味しいパンを焼くためには、生地を一晩ゆっくりと寝かせることが大切です。",
        "駅前の商店街は、昔から多くの人に愛されてきました。",
        "夏の夜空には、たくさんの星がはっきりと見えることがあります。",
    ],
}


def english_article(rng: random.Random, topic: str, paragraphs: int) -> list[str]:
    """Paragraphs of English prose about ``topic``."""
    words = TOPICS[topic]
    # Each template at most once per article: repeated phrasing is what the repetition filters remove.
    templates = rng.sample(ENGLISH_TEMPLATES, len(ENGLISH_TEMPLATES))
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(rng.randint(3, 5)):
            if not templates:
                break
            template = templates.pop()
            noun, noun2 = rng.sample(words["noun"], 2)
            sentence = template.format(adj=rng.choice(words["adj"]), noun=noun, noun2=noun2,
                                       verb=rng.choice(words["verb"]), when=rng.choice(words["when"]))
            sentences.append(sentence[0].upper() + sentence[1:])
        out.append(" ".join(sentences))
    return out


def foreign_article(rng: random.Random, language: str, paragraphs: int) -> list[str]:
    """Paragraphs in ``language`` (de, fr, es, ja)."""
    bank = OTHER_LANGUAGES[language]
    joiner = "" if language == "ja" else " "
    return [joiner.join(rng.sample(bank, min(len(bank), rng.randint(3, 5)))) for _ in range(paragraphs)]


def title_for(rng: random.Random, topic: str) -> str:
    words = TOPICS[topic]
    return f"A {rng.choice(words['adj'])} guide to the {rng.choice(words['noun'])}".title()
