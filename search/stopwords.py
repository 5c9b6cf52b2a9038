"""Short stopword lists (the most frequent function words) per supported language.

PyStemmer ships none. Lists are matched against the lowercased surface word before stemming.
Kept deliberately short and free of planning vocabulary: e.g. Danish/Norwegian "by" (= city)
must stay searchable, so it is only an English stopword.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        """a an the and or but if of at by for with about against between into through during before after
        above below to from up down in out on off over under again further then once here there when where why
        how all any both each few more most other some such no nor not only own same so than too very can will
        just should now is are was were be been being have has had having do does did i me my we our you your
        he him his she her it its they them their what which who whom this that these those am would could"""
    ),
    "fi": _words(
        """ja on ei että se hän oli ovat olla olivat ole ollut olisi tai kun mutta jos myös niin kuin joka jotka
        mikä mitkä tämä nämä ne sen sitä siitä siihen sekä tässä tätä näiden niiden niitä voi vain jo nyt
        mukaan jälkeen kanssa eli en et emme ette eivät minä sinä me te he hänen heidän kaikki yli ennen vielä
        kuitenkin mm esim tms jne joiden jonka jota johon jossa josta mitä miten koska"""
    ),
    "sv": _words(
        """och i att det som en på är av för med till den har de inte om ett han men var jag sig från vi så kan
        man när år säger hon under också efter eller nu sin där vid mot ska skulle kommer ut får finns vara
        hade alla andra mycket än här då sedan över bara in blir upp även vad få två vill ha många hur mer
        detta dessa denna dem deras sina vilken vilka"""
    ),
    "nb": _words(
        """og i det som en på er av for med til den har de ikke om et han men var jeg seg fra vi så kan man
        når år hun under også etter eller nå sin der ved mot skal skulle kommer ut får finnes være hadde
        alle andre mye enn her da siden over bare inn blir opp hva to vil ha mange hvordan mer dette disse
        denne dem deres sine hvilken hvilke å ble blitt"""
    ),
    "da": _words(
        """og i at det som en på er af for med til den har de ikke om et han men var jeg sig fra vi så kan man
        når år hun under også efter eller nu sin der ved mod skal skulle kommer ud får findes være havde alle
        andre meget end her da siden over bare ind bliver op hvad to vil have mange hvordan mere dette disse
        denne dem deres sine hvilken hvilke blev været"""
    ),
}
