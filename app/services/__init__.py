"""The service layer: what the web app and the command line do, on the database."""

from pydantic import BaseModel, ConfigDict


class ReadModel(BaseModel):
    """What a service returns for others to show: typed, immutable, read by attribute.

    The API's response shapes that show the same thing subclass these (``app.schemas``),
    so a field is declared once."""

    model_config = ConfigDict(frozen=True)
