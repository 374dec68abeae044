"""The service layer: what the web app and the command line do, on the database."""

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class ReadModel(BaseModel):
    """What a service returns for others to show: typed, immutable, read by attribute.

    The API's response shapes that show the same thing subclass these (``app.schemas``),
    so a field is declared once."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def of(cls, row: object, **given: Any) -> Self:
        """The read model of a table row: each field the row has an attribute of the same
        name for, and ``given`` for the others."""
        taken = {
            name: getattr(row, name)
            for name in cls.model_fields
            if name not in given and hasattr(row, name)
        }
        return cls(**taken, **given)
